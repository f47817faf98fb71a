"""A request and a response as the shim's handlers see them; bodies stream both ways."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from groundflare.shim.blobs import Span

# Pause reading from workerd while this much request body waits for its handler.
BODY_HIGH_WATER = 4 * 1024 * 1024
# Why a connection holds its reading (a bit each): a request body waits for its handler.
HOLD_BODY = 1
# How much of a body's start it keeps for a record of the call (D1's SQL, R2's metadata).
HEAD_BYTES = 4096


class ReadControl(Protocol):
    """The connection a body arrives on: the body asks it to stop and resume reading."""

    def hold_reading(self, reason: int, hold: bool) -> None: ...


class BodyTooLarge(Exception):
    """The request body exceeds what the handler accepts."""


class Body:
    """A request body arriving in chunks; read whole or iterate."""

    def __init__(self, connection: ReadControl) -> None:
        self._connection = connection
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        # The body's first HEAD_BYTES, kept as they arrive (references, not copies).
        self._head: list[bytes] = []
        self._head_left = HEAD_BYTES

    # ---- protocol side ----

    def feed(self, chunk: bytes) -> None:
        if self._head_left > 0:
            kept = chunk if len(chunk) <= self._head_left else chunk[: self._head_left]
            self._head.append(kept)
            self._head_left -= len(kept)
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > BODY_HIGH_WATER and not self._paused:
            self._paused = True
            self._connection.hold_reading(HOLD_BODY, True)
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        self._done = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def head(self) -> bytes:
        """The first HEAD_BYTES of the body that arrived, whether the handler read them or
        not: what the request log and the test harness show of a call."""
        return self._head[0] if len(self._head) == 1 else b"".join(self._head)

    # ---- handler side ----

    async def _next(self) -> bytes | None:
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= BODY_HIGH_WATER // 2:
            self._paused = False
            self._connection.hold_reading(HOLD_BODY, False)
        return chunk

    async def chunks(self) -> AsyncIterable[bytes]:
        while (chunk := await self._next()) is not None:
            yield chunk

    async def discard(self) -> None:
        """Drop what the handler did not read, so the connection can carry the next request."""
        while await self._next() is not None:
            pass

    async def read(self, limit: int) -> bytes:
        """The whole body; BodyTooLarge past `limit` bytes."""
        parts = []
        size = 0
        # Not `async for`: each async generator costs a loop-wide WeakSet entry per request.
        while (chunk := await self._next()) is not None:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body larger than {limit} bytes")
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: Body

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))


@dataclass
class Response:
    status: int = 200
    body: bytes | AsyncIterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    # For a streamed body whose size is known up front (sent as Content-Length, not chunked).
    length: int | None = None


Handler = Callable[[Request], Awaitable[Response]]


@runtime_checkable
class FileBody(Protocol):
    """A body a server may send from files directly (shim.blobs.PinnedRead)."""

    def spans(self) -> list[Span]: ...

    async def aclose(self) -> None: ...
