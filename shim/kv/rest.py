"""KV's v4 REST routes: namespaces (list, create, get, rename, delete), values (raw get,
raw or multipart put with expiration, delete), `metadata/:key`, `keys`, and the bulk
write, delete and get (docs/api.md).

They work on the namespace's store object the binding uses, with the binding's limits
and messages (shim/kv/rules.py).
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from groundflare.shim.api.envelope import ApiError, ok, page_info, paging
from groundflare.shim.api.routes import ACCOUNT, Call, Route, RouteHandler
from groundflare.shim.catalogue import Entry
from groundflare.shim.http import json_response
from groundflare.shim.kv import bulk, rules
from groundflare.shim.kv.binding import receive
from groundflare.shim.kv.keys import key_from_path
from groundflare.shim.kv.listing import decode_cursor, encode_cursor
from groundflare.shim.kv.rules import KvError
from groundflare.shim.kv.store import KvStore
from groundflare.shim.messages import Response

KIND = "kv"
NAMESPACES = f"{ACCOUNT}/storage/kv/namespaces"
NAMESPACE = f"{NAMESPACES}/{{namespace}}"
# Production's KV codes.
KEY_NOT_FOUND = 10009
NAMESPACE_NOT_FOUND = 10013
TITLE_TAKEN = 10014
INVALID_REQUEST = 10026
MAX_BULK_WRITE = 10_000
MAX_BULK_BODY = 100 * 1024 * 1024
MIN_LIST_LIMIT = 10


class Title(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=1, max_length=512)


class BulkPair(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str
    value: str
    expiration: int | None = None
    expiration_ttl: int | None = None
    metadata: Any = None
    base64: bool = False


BULK_WRITE = TypeAdapter(list[BulkPair])
BULK_KEYS = TypeAdapter(list[str])


def _describe(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.spec.id,
        "title": entry.spec.name or entry.spec.id,
        "supports_url_encoding": True,
    }


def namespace(call: Call) -> tuple[Entry, KvStore]:
    wanted = call.param("namespace")
    for entry in call.resources.entries(KIND):
        if entry.spec.id == wanted:
            served = call.resources.served(KIND, wanted)
            assert served is not None and isinstance(served.resource, KvStore)
            return entry, served.resource
    raise ApiError(404, NAMESPACE_NOT_FOUND, "namespace not found")


def _key(call: Call) -> bytes:
    key = key_from_path("/" + call.params["key"], True)
    rules.check_key(key)
    return key


async def list_namespaces(call: Call) -> Response:
    query = call.request.query
    page, per_page = paging(query, default=20, largest=1000)
    described = [_describe(entry) for entry in call.resources.entries(KIND)]
    if query.get("order") in ("id", "title"):
        described.sort(key=lambda n: n[query["order"]], reverse=query.get("direction") == "desc")
    chosen = described[(page - 1) * per_page : page * per_page]
    return ok(chosen, page_info(page, per_page, len(chosen), len(described)))


async def create_namespace(call: Call) -> Response:
    body = Title.model_validate_json(await call.request.body.read(64 * 1024))
    if any(_describe(e)["title"] == body.title for e in call.resources.entries(KIND)):
        raise ApiError(
            400, TITLE_TAKEN, "a namespace with this account ID and title already exists"
        )
    entry = await call.resources.create(KIND, uuid.uuid4().hex, body.title)
    return ok(_describe(entry))


async def get_namespace(call: Call) -> Response:
    entry, _ = namespace(call)
    return ok(_describe(entry))


async def rename_namespace(call: Call) -> Response:
    entry, _ = namespace(call)
    body = Title.model_validate_json(await call.request.body.read(64 * 1024))
    renamed = await call.resources.rename(KIND, entry.spec.id, body.title)
    return ok(_describe(renamed))


async def delete_namespace(call: Call) -> Response:
    entry, _ = namespace(call)
    await call.resources.drop(KIND, entry.spec.id)
    return ok(None)


async def get_value(call: Call) -> Response:
    _, store = namespace(call)
    entry = await store.get(_key(call))
    if entry is None:
        raise ApiError(404, KEY_NOT_FOUND, "get: 'key not found'")
    headers = {"Content-Type": "application/octet-stream"}
    if entry.expiration is not None:
        headers["Expiration"] = str(entry.expiration)
    if entry.value is not None:
        return Response(body=entry.value, headers=headers)
    # No await between the lookup and the server starting this stream, which pins the file.
    return Response(body=store.read(entry), headers=headers, length=entry.size)


def _multipart(content_type: str, body: bytes) -> tuple[bytes, str | None]:
    """`value` and `metadata` of a multipart/form-data put."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    if "value" not in fields:
        raise ApiError(400, INVALID_REQUEST, "a multipart put needs a `value` part")
    metadata = fields.get("metadata")
    return fields["value"], None if metadata is None else _metadata_text(metadata)


def _metadata_text(raw: bytes) -> str:
    return rules.metadata(raw.decode("latin-1"))


async def put_value(call: Call) -> Response:
    _, store = namespace(call)
    key = _key(call)
    query = call.request.query
    now = int(store.clock.now())
    expiration = rules.expiration(query.get("expiration"), query.get("expiration_ttl"), now)
    content_type = call.request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        raw = await call.request.body.read(rules.MAX_VALUE_BYTES + 64 * 1024)
        value, metadata = _multipart(content_type, raw)
        if len(value) > rules.MAX_VALUE_BYTES:
            raise rules.value_too_large(len(value))
        await store.put(key, value, metadata, expiration)
        return ok({})
    declared = call.request.headers.get("content-length")
    length = None if declared is None else int(declared)
    if length is not None and length > rules.MAX_VALUE_BYTES:
        # Read to the end first: a client that sends `Connection: close` (urllib) writes the
        # whole body before it reads, and would see a reset instead of this answer.
        await call.request.body.discard()
        raise rules.value_too_large(length)
    header = call.request.headers.get("cf-kv-metadata")
    metadata_text = None if header is None else rules.metadata(header)
    await store.put(key, await receive(store, call.request.body, length), metadata_text, expiration)
    return ok({})


async def delete_value(call: Call) -> Response:
    _, store = namespace(call)
    await store.delete(_key(call))
    return ok({})


async def get_metadata(call: Call) -> Response:
    _, store = namespace(call)
    entry = await store.get(_key(call))
    if entry is None:
        raise ApiError(404, KEY_NOT_FOUND, "get: 'key not found'")
    metadata = b"null" if entry.metadata is None else entry.metadata.encode()
    return _spliced(metadata)


def _spliced(result: bytes, result_info: bytes | None = None) -> Response:
    """An envelope around JSON text kept as stored (metadata stays exactly as written)."""
    body = b'{"success":true,"errors":[],"messages":[],"result":' + result
    if result_info is not None:
        body += b',"result_info":' + result_info
    return json_response(200, body + b"}")


async def list_keys(call: Call) -> Response:
    _, store = namespace(call)
    query = call.request.query
    limit = rules.list_limit(query.get("limit"))
    if limit < MIN_LIST_LIMIT:
        raise ApiError(400, INVALID_REQUEST, f"limit must be at least {MIN_LIST_LIMIT}")
    prefix = query.get("prefix", "").encode("utf-8")
    rules.check_key_length(prefix)
    rows, more = await store.list(prefix, decode_cursor(query.get("cursor")), limit)
    keys = []
    for row in rows:
        item = b'{"name":' + orjson.dumps(row.key.decode("utf-8"))
        if row.expiration is not None:
            item += b',"expiration":' + str(row.expiration).encode()
        if row.metadata is not None:
            item += b',"metadata":' + row.metadata.encode()
        keys.append(item + b"}")
    cursor = encode_cursor(rows[-1].key) if more else ""
    info = orjson.dumps({"count": len(rows), "cursor": cursor})
    return _spliced(b"[" + b",".join(keys) + b"]", info)


def _bulk_pair(pair: BulkPair, now: int) -> tuple[bytes, bytes, str | None, int | None]:
    key = pair.key.encode("utf-8")
    rules.check_key(key)
    if pair.base64:
        try:
            value = base64.b64decode(pair.value, validate=True)
        except binascii.Error as exc:
            raise ApiError(400, INVALID_REQUEST, f"{pair.key}: value is not base64") from exc
    else:
        value = pair.value.encode("utf-8")
    if len(value) > rules.MAX_VALUE_BYTES:
        raise rules.value_too_large(len(value))
    metadata = (
        None
        if pair.metadata is None
        else rules.metadata(orjson.dumps(pair.metadata).decode("latin-1"))
    )
    expiration = rules.expiration(
        None if pair.expiration is None else str(pair.expiration),
        None if pair.expiration_ttl is None else str(pair.expiration_ttl),
        now,
    )
    return key, value, metadata, expiration


async def bulk_write(call: Call) -> Response:
    _, store = namespace(call)
    pairs = BULK_WRITE.validate_json(await call.request.body.read(MAX_BULK_BODY))
    if len(pairs) > MAX_BULK_WRITE:
        raise ApiError(400, INVALID_REQUEST, f"at most {MAX_BULK_WRITE} pairs per request")
    now = int(store.clock.now())
    checked = [_bulk_pair(pair, now) for pair in pairs]
    for key, value, metadata, expiration in checked:
        await store.put(key, value, metadata, expiration)
    return ok({"successful_key_count": len(checked), "unsuccessful_keys": []})


async def bulk_delete(call: Call) -> Response:
    _, store = namespace(call)
    keys = BULK_KEYS.validate_json(await call.request.body.read(MAX_BULK_BODY))
    if len(keys) > MAX_BULK_WRITE:
        raise ApiError(400, INVALID_REQUEST, f"at most {MAX_BULK_WRITE} keys per request")
    encoded = [key.encode("utf-8") for key in keys]
    for key in encoded:
        rules.check_key(key)
    for key in encoded:
        await store.delete(key)
    return ok({"successful_key_count": len(encoded), "unsuccessful_keys": []})


async def bulk_get(call: Call) -> Response:
    _, store = namespace(call)
    response = await bulk.handle(store, call.request)
    assert isinstance(response.body, bytes)
    return _spliced(b'{"values":' + response.body + b"}")


def _kv_errors(handler: RouteHandler) -> RouteHandler:
    """KV's own refusals (rules.KvError) as v4 errors, with KV's message."""

    async def wrapped(call: Call) -> Response:
        try:
            return await handler(call)
        except KvError as exc:
            raise ApiError(exc.status, INVALID_REQUEST, exc.message) from exc

    return wrapped


def routes() -> list[Route]:
    table = [
        ("GET", NAMESPACES, list_namespaces),
        ("POST", NAMESPACES, create_namespace),
        ("GET", NAMESPACE, get_namespace),
        ("PUT", NAMESPACE, rename_namespace),
        ("DELETE", NAMESPACE, delete_namespace),
        ("GET", f"{NAMESPACE}/values/{{key:path}}", get_value),
        ("PUT", f"{NAMESPACE}/values/{{key:path}}", put_value),
        ("DELETE", f"{NAMESPACE}/values/{{key:path}}", delete_value),
        ("GET", f"{NAMESPACE}/metadata/{{key:path}}", get_metadata),
        ("GET", f"{NAMESPACE}/keys", list_keys),
        ("PUT", f"{NAMESPACE}/bulk", bulk_write),
        # wrangler deletes with DELETE .../bulk, the SDK with POST .../bulk/delete.
        ("DELETE", f"{NAMESPACE}/bulk", bulk_delete),
        ("POST", f"{NAMESPACE}/bulk/delete", bulk_delete),
        ("POST", f"{NAMESPACE}/bulk/get", bulk_get),
    ]
    return [Route(method, path, _kv_errors(handler)) for method, path, handler in table]
