"""workerd's kvNamespace protocol: single-key GET/PUT/DELETE, list, bulk get (specs/kv.md A).

Every failure carries its message as the reason phrase, because that is what the
Worker's error says (`KV PUT failed: 413 Value length of ...`), and as the body. Storage
faults are answers too: a lock held too long is 500, a full disk 507, never a traceback.
A 1 KiB get or put is one index statement or two on the event loop and no thread
hop (docs/performance.md); only values past shim.blobs.INLINE_BYTES touch files.
"""

from __future__ import annotations

import logging
import re

import apsw

from groundflare.shim.blobs import INLINE_BYTES, Blob
from groundflare.shim.kv import bulk, listing, rules
from groundflare.shim.kv.keys import key_from_path
from groundflare.shim.kv.rules import KvError
from groundflare.shim.kv.store import KvStore
from groundflare.shim.messages import Body, Request, Response
from groundflare.shim.space import is_no_space

log = logging.getLogger("shim")

METADATA_HEADER = "CF-KV-Metadata"
EXPIRATION_HEADER = "CF-Expiration"
MAX_REASON = 512
BUSY_MESSAGE = "KV index is locked (SQLITE_BUSY); see the shim's log"
# A full disk or quota (shim/space.py): the write was rolled back and can be retried.
NO_SPACE_MESSAGE = (
    "Insufficient Storage: no space left on the disk holding this KV namespace; "
    "nothing was written. Free some space and try again"
)
_UNSAFE_IN_REASON = re.compile(r"[^\x20-\x7e]")
_NOT_ASCII_JSON = re.compile(r"[^\x00-\x7e]")


async def handle(store: KvStore, request: Request) -> Response:
    try:
        method = request.method
        if method == "GET":
            if request.path == "/":
                return await listing.handle(store, request)
            return await _get(store, request)
        if method == "PUT":
            return await _put(store, request)
        if method == "DELETE":
            return await _delete(store, request)
        if method == "POST" and request.path == bulk.PATH:
            return await bulk.handle(store, request)
        raise KvError(405, f"{method} {request.path} is not part of the KV binding protocol")
    except KvError as exc:
        return failure(exc.status, exc.message)
    except apsw.BusyError:
        log.warning("kv %s: %s %s met a lock held too long", store.root.name, method, request.path)
        return failure(500, BUSY_MESSAGE)
    except (OSError, apsw.FullError) as exc:
        if not is_no_space(exc):
            raise
        log.warning("kv %s: %s %s refused: %s", store.root.name, method, request.path, exc)
        return failure(507, NO_SPACE_MESSAGE)


def failure(status: int, message: str) -> Response:
    reason = _UNSAFE_IN_REASON.sub("?", message[:MAX_REASON])
    return Response(status=status, body=message.encode(), reason=reason)


def _key(request: Request) -> tuple[bytes, dict[str, str]]:
    """The validated key and the query; workerd's usual query is parsed without parse_qsl."""
    if request.query_string == "urlencoded=true":
        key, query = key_from_path(request.path, True), {}
    else:
        query = request.query
        key = key_from_path(request.path, query.get("urlencoded", "").lower() == "true")
    rules.check_key(key)
    return key, query


async def _get(store: KvStore, request: Request) -> Response:
    key, query = _key(request)
    rules.check_cache_ttl(query.get("cache_ttl"))
    entry = await store.get(key)
    if entry is None:
        return Response(status=404)
    headers = {}
    if entry.metadata is not None:
        headers[METADATA_HEADER] = ascii_json(entry.metadata)
    if entry.expiration is not None:
        headers[EXPIRATION_HEADER] = str(entry.expiration)
    if entry.value is not None:
        return Response(body=entry.value, headers=headers)
    # No await between the lookup and the server starting this stream, which pins the file.
    return Response(body=store.read(entry), headers=headers, length=entry.size)


async def _put(store: KvStore, request: Request) -> Response:
    key, query = _key(request)
    now = int(store.clock.now())
    expiration = rules.expiration(query.get("expiration"), query.get("expiration_ttl"), now)
    header = request.headers.get("cf-kv-metadata")
    metadata = None if header is None else rules.metadata(header)
    declared = request.headers.get("content-length")
    length = None if declared is None else int(declared)
    if length is not None and length > rules.MAX_VALUE_BYTES:
        raise rules.value_too_large(length)
    blob = await receive(store, request.body, length)
    await store.put(key, blob, metadata, expiration)
    return Response()


async def receive(store: KvStore, body: Body, length: int | None) -> bytes | Blob:
    """The value: bytes when its declared length fits an index row (a BlobWriter would cost
    ~5 µs more per small put), else streamed into a blob. Past the limit it is dropped and
    only counted, so the message names the whole length, as production's does."""
    if length is not None and length <= INLINE_BYTES:
        return await body.read(length)
    writer = store.writer()
    try:
        size = 0
        async for chunk in body.chunks():
            size += len(chunk)
            if size <= rules.MAX_VALUE_BYTES:
                await writer.write(chunk)
            elif size - len(chunk) <= rules.MAX_VALUE_BYTES:
                await writer.abort()
        if size > rules.MAX_VALUE_BYTES:
            raise rules.value_too_large(size)
        return await writer.finish()
    except BaseException:
        await writer.abort()
        raise


async def _delete(store: KvStore, request: Request) -> Response:
    key, _ = _key(request)
    await store.delete(key)
    return Response()


def ascii_json(text: str) -> str:
    """JSON text with every non-ASCII character as a \\u escape: header values must be
    ASCII for kj, and the Worker's JSON.parse restores them."""
    if text.isascii() and "\x7f" not in text:
        return text
    return _NOT_ASCII_JSON.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
