"""S3 object operations: GetObject and HeadObject (ranges, conditionals), PutObject (plain,
signed-payload or aws-chunked), CopyObject, DeleteObject and DeleteObjects."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import orjson

from groundflare.shim.messages import Request, Response
from groundflare.shim.r2 import errors
from groundflare.shim.r2.messages import Get, HttpFields, Put, Record
from groundflare.shim.r2.objects import ObjectRecord
from groundflare.shim.r2.s3 import chunked
from groundflare.shim.r2.s3.errors import S3Error
from groundflare.shim.r2.s3.sigv4 import UNSIGNED, Signed
from groundflare.shim.r2.s3.xml import Node, children, document, local, parse, text
from groundflare.shim.r2.store import R2Store

META_PREFIX = "x-amz-meta-"
MAX_XML_BODY = 1024 * 1024
# How much of a signed payload a thread hashes at a time.
HASH_PIECE = 1024 * 1024
# Request headers that become an object's http metadata (and come back on reads).
HTTP_FIELDS = {
    "content-type": "content_type",
    "content-language": "content_language",
    "content-disposition": "content_disposition",
    "content-encoding": "content_encoding",
    "cache-control": "cache_control",
}
# What a read answers for each stored http field (with `response-*` overrides).
RESPONSE_HEADERS = {
    "contentType": ("Content-Type", "response-content-type"),
    "contentLanguage": ("Content-Language", "response-content-language"),
    "contentDisposition": ("Content-Disposition", "response-content-disposition"),
    "contentEncoding": ("Content-Encoding", "response-content-encoding"),
    "cacheControl": ("Cache-Control", "response-cache-control"),
}


def http_date(millis: int) -> str:
    return format_datetime(datetime.fromtimestamp(millis // 1000, UTC), usegmt=True)


def _parse_date(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def _etags(value: str) -> list[str]:
    return [part.strip().removeprefix("W/").strip('"') for part in value.split(",")]


def check_conditions(request: Request, record: ObjectRecord) -> None:
    """RFC 9110's order, as S3 applies it: If-Match / If-Unmodified-Since fail with 412,
    If-None-Match / If-Modified-Since with 304 (for reads)."""
    headers = request.headers
    seconds = record.uploaded // 1000 * 1000
    if "if-match" in headers:
        wanted = _etags(headers["if-match"])
        if "*" not in wanted and record.etag not in wanted:
            raise S3Error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
    elif "if-unmodified-since" in headers:
        since = _parse_date(headers["if-unmodified-since"])
        if since is not None and seconds > since:
            raise S3Error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
    if "if-none-match" in headers:
        wanted = _etags(headers["if-none-match"])
        if "*" in wanted or record.etag in wanted:
            raise S3Error(304, "NotModified", "Not Modified")
    elif "if-modified-since" in headers:
        since = _parse_date(headers["if-modified-since"])
        if since is not None and seconds <= since:
            raise S3Error(304, "NotModified", "Not Modified")


def object_headers(record: ObjectRecord, query: dict[str, str]) -> dict[str, str]:
    http = orjson.loads(record.meta.http) if record.meta.http else {}
    headers = {
        "ETag": f'"{record.etag}"',
        "Last-Modified": http_date(record.uploaded),
        "Accept-Ranges": "bytes",
        "Content-Type": http.get("contentType", "application/octet-stream"),
    }
    for field, (header, override) in RESPONSE_HEADERS.items():
        if override in query:
            headers[header] = query[override]
        elif field in http:
            headers[header] = http[field]
    if "response-expires" in query:
        headers["Expires"] = query["response-expires"]
    if record.meta.custom:
        for field in orjson.loads(record.meta.custom):
            headers[f"{META_PREFIX}{field['k']}"] = field["v"]
    return headers


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


async def get(request: Request, store: R2Store, key: str, head: bool) -> Response:
    record = store.head(key)
    check_conditions(request, record)
    headers = object_headers(record, request.query)
    range_header = request.headers.get("range")
    if head:
        # The object's length with no body (a HEAD answer), from an empty stream.
        return Response(body=_nothing(), headers=headers, length=record.size)
    if range_header is not None and _unsatisfiable(range_header, record.size):
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    served = store.get(Get(method="get", object=key, range_header=range_header))
    offset, length = served.span
    status = 200
    if range_header is not None and (offset, length) != (0, record.size):
        status = 206
        headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{record.size}"
    if isinstance(served.body, bytes):
        return Response(status=status, body=served.body, headers=headers)
    return Response(status=status, body=served.body, headers=headers, length=length)


_FIRST_BYTE = re.compile(r"\s*bytes\s*=\s*(\d+)\s*-")


def _unsatisfiable(header: str, size: int) -> bool:
    """S3 answers 416 to a range starting past the end (the binding serves it all)."""
    found = _FIRST_BYTE.match(header)
    return found is not None and int(found.group(1)) >= size


# ---- writes ----


def payload(request: Request, signed: Signed) -> tuple[AsyncIterable[bytes], int]:
    """The request's data and its length, checked as it streams against what was signed."""
    mode = signed.payload
    if mode in chunked.STREAMING:
        try:
            length = int(request.headers["x-amz-decoded-content-length"])
        except (KeyError, ValueError) as exc:
            raise S3Error(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            ) from exc
        return chunked.decode(request.body.chunks(), signed, mode, length), length
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise S3Error(
            411, "MissingContentLength", "You must provide the Content-Length HTTP header."
        )
    if mode == UNSIGNED:
        return request.body.chunks(), int(declared)
    return _hashed(request.body.chunks(), mode), int(declared)


async def _hashed(chunks: AsyncIterable[bytes], expected: str) -> AsyncIterator[bytes]:
    """The chunks, passed on as they come, while a thread hashes them a piece at a time
    (off the event loop and beside the blob's own writing and MD5)."""
    hasher = hashlib.sha256()
    pending: list[bytes] = []
    pending_size = 0
    in_flight: asyncio.Future[None] | None = None
    async for chunk in chunks:
        pending.append(chunk)
        pending_size += len(chunk)
        if pending_size >= HASH_PIECE:
            piece = b"".join(pending)
            pending, pending_size = [], 0
            if in_flight is not None:
                await in_flight
            in_flight = asyncio.ensure_future(asyncio.to_thread(hasher.update, piece))
        yield chunk
    if in_flight is not None:
        await in_flight
    hasher.update(b"".join(pending))
    if not hmac.compare_digest(hasher.hexdigest(), expected.lower()):
        raise S3Error(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )


def new_object_fields(request: Request) -> dict[str, Any]:
    """http and custom metadata of a new object from its request's headers."""
    headers = request.headers
    fields = {name: headers[h] for h, name in HTTP_FIELDS.items() if h in headers}
    if fields.get("content_encoding") == "aws-chunked":
        del fields["content_encoding"]
    elif "content_encoding" in fields:
        parts = [p.strip() for p in fields["content_encoding"].split(",")]
        fields["content_encoding"] = ", ".join(p for p in parts if p != "aws-chunked")
    custom = [
        Record(k=name[len(META_PREFIX) :], v=value)
        for name, value in headers.items()
        if name.startswith(META_PREFIX)
    ]
    return {
        "http_fields": HttpFields(**fields) if fields else None,
        "custom_fields": custom or None,
    }


def _put_conditions(request: Request) -> dict[str, Any] | None:
    """A conditional put (If-Match / If-None-Match), as R2 supports it."""
    headers = request.headers
    condition: dict[str, Any] = {}
    if "if-match" in headers:
        condition["etag_matches"] = [_etag_message(e) for e in _etags(headers["if-match"])]
    if "if-none-match" in headers:
        condition["etag_does_not_match"] = [
            _etag_message(e) for e in _etags(headers["if-none-match"])
        ]
    return condition or None


def _etag_message(value: str) -> dict[str, str]:
    return {"type": "wildcard"} if value == "*" else {"type": "strong", "value": value}


async def put(
    request: Request,
    store: R2Store,
    key: str,
    signed: Signed,
    bucket_store: Callable[[str], R2Store],
) -> Response:
    if "x-amz-copy-source" in request.headers:
        return await copy(request, store, key, bucket_store)
    data, length = payload(request, signed)
    put_request = Put(
        method="put",
        object=key,
        md5=request.headers.get("content-md5"),
        only_if=_put_conditions(request),
        **new_object_fields(request),
    )
    record = await store.put(put_request, data, length)
    return Response(headers={"ETag": f'"{record.etag}"'})


async def copy(
    request: Request, store: R2Store, key: str, bucket_store: Callable[[str], R2Store]
) -> Response:
    source = unquote(request.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
    source_bucket, _, source_key = source.partition("/")
    if not source_key:
        raise S3Error(
            400,
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    origin = bucket_store(source_bucket)
    served = origin.get(Get(method="get", object=source_key))
    record = served.record
    if request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        fields = new_object_fields(request)
    else:
        http = orjson.loads(record.meta.http) if record.meta.http else None
        custom = orjson.loads(record.meta.custom) if record.meta.custom else None
        fields = {
            "http_fields": None if http is None else HttpFields.model_validate(http),
            "custom_fields": None if custom is None else [Record(**c) for c in custom],
        }
    body = served.body
    data = _once(body) if isinstance(body, bytes) else body
    copied = await store.put(Put(method="put", object=key, **fields), data, record.size)
    return document(
        "CopyObjectResult",
        [("LastModified", _iso(copied.uploaded)), ("ETag", f'"{copied.etag}"')],
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _iso(millis: int) -> str:
    return (
        datetime.fromtimestamp(millis / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


async def delete(store: R2Store, key: str) -> Response:
    await store.delete([key])
    return Response(status=204)


async def delete_many(request: Request, store: R2Store, signed: Signed) -> Response:
    data, _ = payload(request, signed)
    body = b""
    async for chunk in data:
        body += chunk
        if len(body) > MAX_XML_BODY:
            raise S3Error(400, "MalformedXML", "The Delete request body is too large")
    root = parse(body)
    if local(root.tag) != "Delete":
        raise S3Error(400, "MalformedXML", "The request body must be a Delete element")
    keys = [text(item, "Key") or "" for item in children(root, "Object")]
    if not 1 <= len(keys) <= 1000:
        raise errors.too_many_keys()
    await store.delete(keys)
    quiet = (text(root, "Quiet") or "").lower() == "true"
    deleted: list[tuple[str, Node]] = [] if quiet else [("Deleted", [("Key", k)]) for k in keys]
    return document("DeleteResult", deleted)
