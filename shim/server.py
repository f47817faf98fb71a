"""A lean HTTP/1.1 server for the shim's one client, workerd.

Every binding call costs one workerd-to-shim round trip, so the server's own
per-request work is the floor of D1/KV/R2 latency. aiohttp's full request
pipeline measured ~190 µs of CPU per request here against ~25 µs for a bare
protocol (see docs/performance.md), so the shim parses with httptools (llhttp,
the parser Node uses) on an asyncio protocol. Bodies stream both ways with
flow control: a reader too slow for an upload pauses the socket, a slow peer
pauses a download.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable
from urllib.parse import parse_qsl

import httptools

if TYPE_CHECKING:
    from shim.blobs import Span

log = logging.getLogger("shim")

# Pause reading from workerd while this much request body waits for its handler.
BODY_HIGH_WATER = 4 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body exceeds what the handler accepts."""


class Body:
    """A request body arriving in chunks; read whole or iterate."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # ---- protocol side ----

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > BODY_HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        self._done = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

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
            self._transport.resume_reading()
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
SENDFILE_TIMEOUT_SECONDS = 60.0


@runtime_checkable
class FileBody(Protocol):
    """A body a server may send from files directly (shim.blobs.PinnedRead)."""

    def spans(self) -> list[Span]: ...

    async def aclose(self) -> None: ...


def _sendfile(fd: int, path: Path, offset: int, count: int) -> None:
    """On a worker thread: `count` bytes of `path` onto the (non-blocking) socket `fd`."""
    with path.open("rb") as source:
        while count > 0:
            try:
                sent = os.sendfile(fd, source.fileno(), offset, count)
            except BlockingIOError:
                _, writable, _ = select.select([], [fd], [], SENDFILE_TIMEOUT_SECONDS)
                if not writable:
                    raise TimeoutError("the client stopped reading") from None
                continue
            if sent == 0:
                raise OSError(f"{path} ended {count} bytes early")
            offset += sent
            count -= sent


def _head(response: Response, keep_alive: bool) -> bytearray:
    reason = response.reason
    if reason is None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    if isinstance(response.body, bytes | bytearray):
        lines.append(f"Content-Length: {len(response.body)}")
    elif response.length is not None:
        lines.append(f"Content-Length: {response.length}")
    else:
        lines.append("Transfer-Encoding: chunked")
    if not keep_alive:
        lines.append("Connection: close")
    head = bytearray("\r\n".join(lines).encode("latin-1"))
    head += b"\r\n\r\n"
    return head


class HttpProtocol(asyncio.Protocol):
    """One connection: requests are answered strictly in order."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._parser = httptools.HttpRequestParser(self)
        # workerd forwards header values byte for byte (KV metadata JSON may hold U+007F);
        # only workerd reaches the 0600 socket, so accept what llhttp's strict mode refuses.
        self._parser.set_dangerous_leniencies(lenient_headers=True)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: Body | None = None
        self._pending: asyncio.Queue[tuple[Request, bool] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail_request(exc)
            self._reply_and_close(400, f"malformed HTTP request: {exc}")
        except httptools.HttpParserUpgrade:
            self._reply_and_close(400, "protocol upgrades are not supported")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_request(ConnectionResetError("connection closed by the client"))
        self._pending.put_nowait(None)
        self._writable.set()
        if self._worker is not None:
            self._worker.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        assert self._transport is not None
        target = self._url.decode("latin-1")
        path, _, query = target.partition("?")
        self._body = Body(self._transport)
        request = Request(
            method=self._parser.get_method().decode("latin-1"),
            path=path,
            query_string=query,
            headers=self._headers,
            body=self._body,
        )
        if self._headers.get("expect", "").lower() == "100-continue":
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._pending.put_nowait((request, self._parser.should_keep_alive()))

    def on_body(self, body: bytes) -> None:
        assert self._body is not None
        self._body.feed(body)

    def on_message_complete(self) -> None:
        if self._body is not None:
            self._body.finish()
            self._body = None

    # ---- answering ----

    def _fail_request(self, exc: BaseException) -> None:
        if self._body is not None:
            self._body.finish(exc)
            self._body = None

    def _reply_and_close(self, status: int, message: str) -> None:
        assert self._transport is not None
        body = message.encode()
        head = _head(Response(status=status, body=body), keep_alive=False)
        self._transport.write(bytes(head) + body)
        self._transport.close()

    async def _serve(self) -> None:
        while (item := await self._pending.get()) is not None:
            request, keep_alive = item
            try:
                response = await self._handler(request)
            except asyncio.CancelledError:
                raise
            except BodyTooLarge as exc:
                response = Response(status=413, body=str(exc).encode())
                keep_alive = False
            except Exception:
                log.exception("unhandled error answering %s %s", request.method, request.path)
                response = Response(
                    status=500,
                    body=b'{"success":false,"error":"internal error in the shim; see its log"}',
                    headers={"Content-Type": "application/json"},
                )
            try:
                await self._write(response, keep_alive)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The status line is out: the only honest signal left is to cut the
                # connection, so the client sees a truncated body instead of waiting for it.
                log.exception("response body of %s %s failed", request.method, request.path)
                self._close()
                return
            if keep_alive:
                try:
                    await request.body.discard()
                except ConnectionError:
                    keep_alive = False
            if not keep_alive:
                self._close()
                return

    async def _write(self, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        assert transport is not None
        head = _head(response, keep_alive)
        body = response.body
        if isinstance(body, bytes | bytearray):
            head += body
            transport.write(head)
            return
        transport.write(head)
        if isinstance(body, FileBody) and response.length is not None:
            await self._send_spans(body)
            return
        chunked = response.length is None
        async for chunk in body:
            if not chunk:
                continue
            if chunked:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                transport.write(chunk)
            if not self._writable.is_set():
                await self._writable.wait()
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def _send_spans(self, body: FileBody) -> None:
        """Bytes in hand go through the transport; file spans go to the socket with sendfile,
        so a large object never passes through Python (measured: 5x less shim CPU per GiB)."""
        transport = self._transport
        assert transport is not None
        try:
            for span in body.spans():
                if span.path is None:
                    transport.write(span.data)
                    if not self._writable.is_set():
                        await self._writable.wait()
                else:
                    await self._sendfile(span.path, span.offset, span.count)
        finally:
            await body.aclose()

    async def _sendfile(self, path: Path, offset: int, count: int) -> None:
        transport = self._transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        # Let the transport flush everything it holds, then own the socket until done.
        transport.set_write_buffer_limits(high=0)
        try:
            if transport.get_write_buffer_size():
                self._writable.clear()
            await self._writable.wait()
            await asyncio.to_thread(_sendfile, sock.fileno(), path, offset, count)
        finally:
            transport.set_write_buffer_limits()

    def _close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()


# workerd opens one connection per concurrent binding call: a Worker awaiting 1,000 calls
# at once needs them all accepted (asyncio's default backlog of 100 drops the rest).
UNIX_BACKLOG = 4096


async def serve_unix(handler: Handler, path: str) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_unix_server(lambda: HttpProtocol(handler), path, backlog=UNIX_BACKLOG)


async def serve_socket(handler: Handler, listener: socket.socket) -> asyncio.Server:
    """Serve on an already-listening socket (inherited from the supervisor)."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    return await loop.create_server(lambda: HttpProtocol(handler), sock=listener)
