"""Bulk get: `get([keys])` and `getWithMetadata([keys])` as `POST /bulk/get` (specs/kv.md A.9).

The answer is one JSON object, key to value (or to `{"value", "metadata"}`), built
from fragments: stored metadata and `json` values are already JSON text, so they are
validated and spliced in, never re-serialised (integers past 2^64 and the like stay
exactly as the Worker wrote them).
"""

from __future__ import annotations

import asyncio

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from groundflare.shim import wtf8
from groundflare.shim.blobs import INLINE_BYTES
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.kv import rules
from groundflare.shim.kv.index import Entry
from groundflare.shim.kv.jsontext import is_json
from groundflare.shim.kv.rules import KvError
from groundflare.shim.kv.store import KvStore
from groundflare.shim.messages import Request, Response

PATH = "/bulk/get"
# Room for far more keys than allowed, so a Worker asking for too many still gets
# production's "You can request a maximum of 100 keys".
MAX_BODY_BYTES = 16 * 1024 * 1024
TYPES = frozenset({"text", "json"})


class BulkGet(BaseModel):
    keys: list[str]
    type: str | None = None
    with_metadata: bool = Field(default=False, alias="withMetadata")
    # workerd sends it as a string.
    cache_ttl: str | int | None = Field(default=None, alias="cacheTtl")


BULK_GET = TypeAdapter(BulkGet)


def parse(body: bytes) -> BulkGet:
    """The request, checked in Miniflare's order: type, key count, then each key."""
    try:
        request = wtf8.validate_json(BULK_GET, body)
    except ValidationError as exc:
        raise KvError(400, f"Invalid bulk get request: {validation_summary(exc)}") from exc
    if request.type is not None and request.type not in TYPES:
        raise KvError(400, f'"{request.type}" is not a valid type. Use "json" or "text"')
    if len(request.keys) > rules.MAX_BULK_KEYS:
        raise KvError(400, f"You can request a maximum of {rules.MAX_BULK_KEYS} keys")
    if not request.keys:
        raise KvError(400, "You must request a minimum of 1 key")
    cache_ttl = None if request.cache_ttl is None else str(request.cache_ttl)
    for key in request.keys:
        rules.check_key(key.encode("utf-8"))
        rules.check_cache_ttl(cache_ttl)
    return request


async def handle(store: KvStore, request: Request) -> Response:
    bulk = parse(await request.body.read(MAX_BODY_BYTES))
    names = list(dict.fromkeys(bulk.keys))
    async with store.pinned([name.encode("utf-8") for name in names]) as entries:
        total = sum(entry.size for entry in entries if entry is not None)
        if total > rules.MAX_BULK_BYTES:
            raise KvError(413, "Total size of request exceeds the limit of 25MB")
        values = [None if e is None else await store.read_all(e) for e in entries]
    found = list(zip(names, entries, values, strict=True))
    as_json = bulk.type == "json"
    if total <= INLINE_BYTES:
        payload = answer(found, as_json, bulk.with_metadata)
    else:
        payload = await asyncio.to_thread(answer, found, as_json, bulk.with_metadata)
    return json_response(200, payload)


def answer(
    found: list[tuple[str, Entry | None, bytes | None]], as_json: bool, with_metadata: bool
) -> bytes:
    """The response object; a missing key maps to null."""
    parts = []
    for name, entry, value in found:
        fragment = b"null"
        if entry is not None and value is not None:
            fragment = _value(value, as_json)
            if with_metadata:
                metadata = b"null" if entry.metadata is None else entry.metadata.encode()
                fragment = b'{"value":' + fragment + b',"metadata":' + metadata + b"}"
        parts.append(orjson.dumps(name) + b":" + fragment)
    return b"{" + b",".join(parts) + b"}"


def _value(value: bytes, as_json: bool) -> bytes:
    """A value as JSON: `text` is a string (TextDecoder's replacement for bad UTF-8), `json`
    is the value's own text once it parses as JSON.parse would parse it (any depth, any
    number of digits: shim/kv/jsontext.py)."""
    text = value.decode("utf-8", "replace")
    if not as_json:
        return orjson.dumps(text)
    if not is_json(text):
        raise KvError(400, "At least one of the requested keys corresponds to a non-json value")
    return text.encode("utf-8")
