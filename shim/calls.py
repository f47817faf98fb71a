"""The binding calls Workers make, recorded while a test harness asks (the pytest plugin
shows a failing test's calls in its report, docs/testing.md). Off by default: the shim
then pays one attribute test per call."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable

from groundflare.shim.kinds import Handler
from groundflare.shim.messages import Body, Request, Response

# Enough of a request body to show a D1 query or a small KV value.
PEEK_BYTES = 1024
# A test that makes more calls than this keeps its first ones.
MAX_CALLS = 2000


class _PeekedBody:
    """A request body that keeps a copy of its first bytes as the handler reads it."""

    def __init__(self, body: Body) -> None:
        self._body = body
        self.head = bytearray()

    def _keep(self, chunk: bytes) -> bytes:
        if len(self.head) < PEEK_BYTES:
            self.head += chunk[: PEEK_BYTES - len(self.head)]
        return chunk

    async def read(self, limit: int) -> bytes:
        return self._keep(await self._body.read(limit))

    async def chunks(self) -> AsyncIterable[bytes]:
        async for chunk in self._body.chunks():
            yield self._keep(chunk)

    async def discard(self) -> None:
        await self._body.discard()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] | None = None

    def start(self) -> None:
        self.calls = []

    def stop(self) -> list[dict[str, object]]:
        calls, self.calls = self.calls or [], None
        return calls

    async def record(self, tag: str, request: Request, handler: Handler) -> Response:
        peeked = _PeekedBody(request.body)
        request.body = peeked  # type: ignore[assignment]
        started = time.perf_counter()
        response = await handler(request)
        if self.calls is not None and len(self.calls) < MAX_CALLS:
            query = f"?{request.query_string}" if request.query_string else ""
            self.calls.append(
                {
                    "resource": tag,
                    "method": request.method,
                    "path": request.path + query,
                    "status": response.status,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                    "body": peeked.head.decode("utf-8", "replace"),
                }
            )
        return response
