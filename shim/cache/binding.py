"""workerd's cache protocol (src/workerd/api/cache.c++, its `cacheApiOutbound` service):
`match()` is a GET answered with the stored response and `CF-Cache-Status: HIT`, or 504
with `CF-Cache-Status: MISS`; `put()` is a PUT whose body is the whole HTTP response to
store (never chunk-encoded itself), answered 204 (stored) or 413 (not stored); `delete()`
is a PURGE answered 200 or 404. `caches.open(name)` sends `CF-Cache-Namespace: name`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson

from groundflare.contracts.cache import CF_BLOB_HEADER, NAMESPACE_HEADER
from groundflare.shim.blobs import BlobWriter
from groundflare.shim.cache import policy
from groundflare.shim.cache.store import CacheStore, Entry
from groundflare.shim.clock import Clock
from groundflare.shim.messages import Body, Request, Response

log = logging.getLogger("shim")

# Production's largest cacheable object (workers/platform/limits: Cache API, 512 MB).
MAX_OBJECT_BYTES = 512 * 1024 * 1024
MAX_HEAD = 64 * 1024
# Headers of the stored response that say how it was framed, not what it is.
FRAMING = {"transfer-encoding", "connection", "keep-alive"}


def cache_key(request: Request) -> str:
    """The entry's key: the `cf.cacheKey` the Worker gave, else the request URL."""
    blob = request.headers.get(CF_BLOB_HEADER)
    if blob:
        try:
            key = orjson.loads(blob).get("cacheKey")
        except (orjson.JSONDecodeError, AttributeError):
            key = None
        if isinstance(key, str) and key:
            return key
    # The service sends the full URL in the request line (proxy style: workerd_config/cache.py).
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{request.path}{query}"


def miss() -> Response:
    return Response(status=504, headers={"CF-Cache-Status": "MISS"})


async def match(store: CacheStore, clock: Clock, request: Request) -> Response:
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    entry = await store.get(namespace, cache_key(request), clock.now())
    if entry is None:
        return miss()
    headers: list[tuple[str, str]] = [tuple(pair) for pair in orjson.loads(entry.headers)]
    if entry.vary is not None:
        wanted = orjson.loads(entry.vary)
        if any(request.headers.get(name) != value for name, value in wanted.items()):
            return miss()
    named = {name.lower(): value for name, value in headers}
    out = {name: value for name, value in headers if name.lower() != "content-length"}
    out["CF-Cache-Status"] = "HIT"
    if policy.not_modified(request.headers, named):
        return Response(status=304, headers=out)
    status, first, length = entry.status, 0, entry.size
    wanted_range = request.headers.get("range")
    if wanted_range is not None:
        span = policy.byte_range(wanted_range, entry.size)
        if span is False:
            return Response(status=416, headers={"Content-Range": f"bytes */{entry.size}", **out})
        if isinstance(span, tuple):
            first, last = span
            length = last - first + 1
            status = 206
            out["Content-Range"] = f"bytes {first}-{last}/{entry.size}"
    return Response(
        status=status, body=store.read(entry, first, length), headers=out, length=length
    )


class _Payload:
    """The PUT body: an HTTP response head, then the stored body's bytes as they come."""

    def __init__(self, body: Body) -> None:
        self.body = body
        self.rest = b""

    async def head(self) -> tuple[int, list[tuple[str, str]]]:
        data = b""
        async for chunk in self.body.chunks():
            data += chunk
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                self.rest = data[end + 4 :]
                return _parse_head(data[:end])
            if len(data) > MAX_HEAD:
                break
        raise ValueError("the cached response has no complete head")

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.rest:
            yield self.rest
        async for chunk in self.body.chunks():
            yield chunk


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return status, headers


async def put(store: CacheStore, clock: Clock, request: Request) -> Response:
    payload = _Payload(request.body)
    status, headers = await payload.head()
    headers = [(n, v) for n, v in headers if n.lower() not in FRAMING]
    now = clock.now()
    verdict = policy.judge(status, headers, now)
    if verdict.ttl is None:
        await request.body.discard()
        return Response(status=413)
    writer = store.writer()
    if not await _receive(writer, payload, MAX_OBJECT_BYTES):
        await request.body.discard()
        return Response(status=413)
    blob = await writer.finish()
    vary = {name: request.headers.get(name) for name in policy.vary_names(verdict.headers)}
    entry = Entry(
        status=status,
        headers=orjson.dumps(verdict.headers).decode(),
        vary=orjson.dumps(vary).decode() if vary else None,
        size=blob.size,
        value=blob.inline,
        file=blob.file,
        expires=now + verdict.ttl,
    )
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    await store.put(namespace, cache_key(request), entry, now)
    return Response(status=204)


async def _receive(writer: BlobWriter, payload: _Payload, limit: int) -> bool:
    """The body into `writer`; False (the write aborted) once it passes `limit` bytes."""
    size = 0
    try:
        async for chunk in payload.chunks():
            size += len(chunk)
            if size > limit:
                await writer.abort()
                return False
            await writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    return True


async def purge(store: CacheStore, clock: Clock, request: Request) -> Response:
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    found = await store.delete(namespace, cache_key(request), clock.now())
    return Response(status=200 if found else 404)


async def handle(store: CacheStore, clock: Clock, request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        return await match(store, clock, request)
    if request.method == "PUT":
        try:
            return await put(store, clock, request)
        except ValueError as exc:
            log.warning("cache: a put was not stored: %s", exc)
            return Response(status=413)
    if request.method == "PURGE":
        return await purge(store, clock, request)
    return Response(status=405)
