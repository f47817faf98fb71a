"""A lean HTTP/1.1 server for the shim's one client, workerd.

Every binding call costs one workerd-to-shim round trip, so the server's own
per-request work is the floor of D1/KV/R2 latency. aiohttp's full request
pipeline measured ~190 µs of CPU per request here against ~25 µs for a bare
protocol (see docs/performance.md), so the shim parses with httptools (llhttp,
the parser Node uses) on an asyncio protocol. Bodies stream both ways with
flow control: a reader too slow for an upload pauses the socket, a slow peer
pauses a download.

Each listener has its own `Limits` (head size, timeouts, pipelining, connections):
the REST listener faces any local process and browser, the binding socket only
workerd. Values and what a client sees: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import cast

import httptools

from groundflare.shim.messages import Body, BodyTooLarge, FileBody, Handler, Request, Response
from groundflare.shim.sendfile import sendfile, sendfile_cached

log = logging.getLogger("shim")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one listener grants each client; None turns a limit off."""

    # Request line and headers, in bytes: 431 and the connection closed beyond.
    max_head: int
    # Seconds for a head to arrive whole, from its first byte (or the connection's opening).
    head_timeout: float | None = None
    # Seconds a kept-alive connection may wait for its next request.
    idle_timeout: float | None = None
    # Seconds a request body may go without a byte while the shim reads it, or a response
    # without the client reading any of it.
    stall_timeout: float | None = None
    # Open connections; the next one is answered 503 and closed.
    max_connections: int | None = None
    # Requests waiting on one connection before it is read no further, until they are answered.
    pipeline_pause: int = 8
    # Requests one read may queue: the next gets 503 after the answers to those before it,
    # the rest of the read is dropped, and the connection closes (RFC 9112 9.3.2: a
    # pipelining client retries what a closed connection left unanswered).
    pipeline_cut: int = 64
    # SO_SNDBUF of each accepted connection (the kernel caps it at net.core.wmem_max); None
    # keeps the system's default.
    send_buffer: int | None = None

    @property
    def timed(self) -> bool:
        return (self.head_timeout, self.idle_timeout, self.stall_timeout) != (None, None, None)


# Only workerd reaches the binding socket (0600, in the 0700 run/ dir): no timeouts, since
# workerd pools connections and an idle close racing its next request would fail a call.
# The biggest legitimate head is a few KiB (KV keys 512 bytes in the URL, KV metadata 1 KiB,
# R2's CF-R2-Request JSON with a 1 KiB key); 1 MiB leaves room for the oversized values the
# shim must see to refuse with production's own error text (docs/reliability-shim.md).
# A 4 MiB send buffer: a 1 MiB R2 body goes in one sendfile from the loop (docs/performance.md).
BINDING_LIMITS = Limits(max_head=1024 * 1024, send_buffer=4 * 1024 * 1024)
# Bytes in hand (a head, R2's metadata, small inline parts) gathered into one write up to this.
WRITE_BATCH_BYTES = 256 * 1024


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


def _text(status: int, message: str) -> Response:
    return Response(status=status, body=message.encode(), headers={"Content-Type": "text/plain"})


def _failure(request: Request, exc: Exception, keep_alive: bool) -> tuple[Response, bool]:
    """The answer to a handler that raised, and whether the connection may carry on."""
    if isinstance(exc, BodyTooLarge):
        return Response(status=413, body=str(exc).encode()), False
    if isinstance(exc, httptools.HttpParserError):
        # The body broke the framing (a bad chunk size): the client's fault, not ours.
        return _text(400, f"malformed HTTP request: {exc}"), False
    log.exception("unhandled error answering %s %s", request.method, request.path)
    body = b'{"success":false,"error":"internal error in the shim; see its log"}'
    return Response(status=500, body=body, headers={"Content-Type": "application/json"}), keep_alive


class _Stop(Exception):
    """Raised in a parser callback: read no more from this connection, answer `reply` last."""

    def __init__(self, reply: Response | None) -> None:
        self.reply = reply


class _Wait(enum.Enum):
    """What a timed connection waits for from its client."""

    HEAD = enum.auto()
    IDLE = enum.auto()
    BODY = enum.auto()


# Why reading is paused: any reason holds it.
_HOLD_QUEUE = 2  # too many requests wait on this connection
_HOLD_END = 4  # the connection answers what it has, then closes

# After the last answer on a connection the shim ended, what it still reads and drops.
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024


class ListenerState:
    """One listening socket's limits, and its open connections counted against the cap."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0
        self.refusal = b""
        if limits.max_connections is not None:
            reply = _text(503, f"too many open connections (limit {limits.max_connections})")
            self.refusal = bytes(_head(reply, keep_alive=False)) + cast(bytes, reply.body)


class HttpProtocol(asyncio.Protocol):
    """One connection: requests are answered strictly in order."""

    def __init__(self, handler: Handler, listener: ListenerState) -> None:
        self._handler = handler
        self._listener = listener
        self._limits = listener.limits
        self._max_head = listener.limits.max_head
        self._timed = listener.limits.timed
        self._parser = httptools.HttpRequestParser(self)
        # workerd forwards header values byte for byte (KV metadata JSON may hold U+007F);
        # only workerd reaches the 0600 socket, so accept what llhttp's strict mode refuses.
        self._parser.set_dangerous_leniencies(lenient_headers=True)
        self._transport: asyncio.Transport | None = None
        self._counted = False
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: Body | None = None
        # Requests waiting for the worker, in order (a Response: last words; None: the end).
        self._pending: deque[tuple[Request, bool] | Response | None] = deque()
        self._arrival: asyncio.Future[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._holds = 0
        # Head accounting (see data_received): the length of the read being parsed, an upper
        # bound of the current head's size, and the bytes of it in reads after its first.
        self._chunk = 0
        self._in_head = False
        self._head_bound = 0
        self._head_seen = 0
        self._held = bytearray()
        self._linger_left = -1
        self._wait: _Wait | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        listener = self._listener
        cap = self._limits.max_connections
        if cap is not None:
            if listener.open >= cap:
                # Refused before reading: the socket is gone at once and the fds stay free.
                self._transport.write(listener.refusal)
                self._transport.close()
                return
            listener.open += 1
            self._counted = True
        if self._limits.send_buffer is not None:
            sock = self._transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._limits.send_buffer)
        self._worker = asyncio.get_running_loop().create_task(self._serve())
        if self._timed:
            self._expect(_Wait.HEAD, self._limits.head_timeout)

    def data_received(self, data: bytes) -> None:
        if self._linger_left >= 0:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self._close()
            return
        if self._in_head:
            # The head began in an earlier read. A read without a line end cannot end it:
            # hold it, so httptools (which joins a header's pieces by concatenation,
            # quadratic in their count) sees a long head in a few pieces, never in thousands.
            if b"\n" not in data:
                self._held += data
                if self._head_seen + len(self._held) > self._max_head:
                    self._end(self._too_large())
                return
            if self._held:
                data = bytes(self._held) + data
                self._held.clear()
            self._head_bound += len(data)
        self._chunk = len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            stop = exc.__context__
            if isinstance(stop, _Stop):
                self._end(stop.reply)
            else:
                self._fail_request(exc)
                self._end(_text(400, f"malformed HTTP request: {exc}"))
            return
        except httptools.HttpParserUpgrade:
            self._end(_text(400, "protocol upgrades are not supported"))
            return
        if self._in_head:
            # Still incomplete. A head that began in this read counts none of it here (its
            # start is unknown: on_message_begin offsets it), later reads count whole.
            self._head_seen += self._chunk
            if self._head_seen > self._max_head:
                self._end(self._too_large())
        elif len(self._pending) > self._limits.pipeline_pause:
            self.hold_reading(_HOLD_QUEUE, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_request(ConnectionResetError("connection closed by the client"))
        self._enqueue(None)
        self._writable.set()
        if self._worker is not None:
            self._worker.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if self._counted:
            self._listener.open -= 1

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def hold_reading(self, reason: int, hold: bool) -> None:
        """Pause reading while any reason holds it (a full body buffer, a full queue, the end)."""
        before = self._holds
        self._holds = before | reason if hold else before & ~reason
        transport = self._transport
        if bool(before) == bool(self._holds) or transport is None or transport.is_closing():
            return
        if self._holds:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        if len(self._pending) >= self._limits.pipeline_cut:
            raise _Stop(_text(503, "too many pipelined requests"))
        self._url = b""
        self._headers = {}
        self._in_head = True
        self._head_bound = self._chunk
        self._head_seen = -self._chunk
        if self._timed and self._wait is not _Wait.HEAD:
            self._expect(_Wait.HEAD, self._limits.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        assert self._transport is not None
        self._in_head = False
        if self._head_bound > self._max_head and self._head_size() > self._max_head:
            raise _Stop(self._too_large())
        if self._timed:
            self._expect(_Wait.BODY, self._limits.stall_timeout)
        target = self._url.decode("latin-1")
        path, _, query = target.partition("?")
        self._body = Body(self)
        request = Request(
            method=self._parser.get_method().decode("latin-1"),
            path=path,
            query_string=query,
            headers=self._headers,
            body=self._body,
        )
        if self._headers.get("expect", "").lower() == "100-continue":
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._enqueue((request, self._parser.should_keep_alive()))

    def on_body(self, body: bytes) -> None:
        assert self._body is not None
        self._body.feed(body)
        if self._timed:
            self._deadline = self._loop_time() + cast(float, self._limits.stall_timeout)

    def on_message_complete(self) -> None:
        if self._body is not None:
            self._body.finish()
            self._body = None
        if self._timed:
            self._wait = None

    # ---- the head limit ----

    def _head_size(self) -> int:
        """The head's bytes as a client writing `Name: value` lines sends it.

        Called only when the reads a head spans exceed the limit: the exact answer costs
        a pass over the headers that a small head never pays.
        """
        # `METHOD SP target SP HTTP/1.1 CRLF`, the header lines, the blank line.
        size = len(self._parser.get_method()) + len(self._url) + len("  HTTP/1.1\r\n\r\n")
        for name, value in self._headers.items():
            size += len(name) + len(value) + len(": \r\n")
        return size

    def _too_large(self) -> Response:
        return _text(431, f"request head larger than {self._max_head} bytes")

    # ---- timeouts (listeners with any: the REST one) ----

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def _expect(self, wait: _Wait, seconds: float | None) -> None:
        """Give the client `seconds` for what it owes next; None: no limit."""
        if seconds is None:
            self._wait = None
            return
        self._wait = wait
        self._deadline = self._loop_time() + seconds
        timer = self._timer
        if timer is None or timer.when() > self._deadline:
            if timer is not None:
                timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(self._deadline, self._expired)

    def _expired(self) -> None:
        self._timer = None
        wait = self._wait
        if wait is None or self._transport is None or self._transport.is_closing():
            return
        now = self._loop_time()
        if self._holds and wait is not _Wait.IDLE:
            # The shim stopped reading (a full pipeline or body buffer), not the client.
            seconds = (
                self._limits.stall_timeout if wait is _Wait.BODY else self._limits.head_timeout
            )
            self._deadline = now + cast(float, seconds)
        if now < self._deadline:
            self._timer = asyncio.get_running_loop().call_at(self._deadline, self._expired)
            return
        self._wait = None
        if wait is _Wait.BODY:
            self._close()  # connection_lost fails the body and stops the handler
        elif wait is _Wait.HEAD and self._in_head:
            self._end(_text(408, "request head not received in time"))
        else:
            self._end(None)

    # ---- answering ----

    def _fail_request(self, exc: BaseException) -> None:
        if self._body is not None:
            self._body.finish(exc)
            self._body = None

    def _end(self, reply: Response | None) -> None:
        """Read nothing more: answer what is queued, then `reply` if any, then close."""
        self.hold_reading(_HOLD_END, True)
        self._wait = None
        if reply is not None:
            self._enqueue(reply)
        self._enqueue(None)

    def _enqueue(self, item: tuple[Request, bool] | Response | None) -> None:
        self._pending.append(item)
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)

    async def _serve(self) -> None:
        # One loop, no helper coroutine per request: this is the binding calls' hot path.
        pending = self._pending
        loop = asyncio.get_running_loop()
        while True:
            while not pending:
                self._arrival = loop.create_future()
                await self._arrival
            if (item := pending.popleft()) is None:
                break
            if self._holds & _HOLD_QUEUE and not pending:
                self.hold_reading(_HOLD_QUEUE, False)
            if isinstance(item, Response):
                # The connection's last words (a refusal); the client sees them, then EOF.
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await self._write(item, keep_alive=False)
                break
            request, keep_alive = item
            try:
                response = await self._handler(request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                response, keep_alive = _failure(request, exc, keep_alive)
            try:
                await self._write(response, keep_alive)
            except asyncio.CancelledError:
                raise
            except (ConnectionError, TimeoutError) as exc:
                log.info(
                    "%s %s: the client left or stopped reading (%r)",
                    request.method,
                    request.path,
                    exc,
                )
                break
            except Exception:
                # The status line is out: the only honest signal left is to cut the
                # connection, so the client sees a truncated body instead of waiting for it.
                log.exception("response body of %s %s failed", request.method, request.path)
                break
            if not keep_alive:
                break
            try:
                await request.body.discard()
            except (ConnectionError, TimeoutError, httptools.HttpParserError):
                break
            # Pipelined answers wait for a reader that keeps up: nothing piles up unsent.
            if not self._writable.is_set():
                try:
                    await self._drained()
                except TimeoutError:
                    break
            if self._timed and not pending and not self._in_head:
                self._expect(_Wait.IDLE, self._limits.idle_timeout)
        if self._holds & _HOLD_END:
            self._linger()
        else:
            self._close()

    def _linger(self) -> None:
        """Half-close, then drop what the client still sends, for a while, before closing.

        The shim stopped reading mid-stream: closing with input unread sends a reset, and
        a reset discards what the kernel had not sent yet, so the client would lose the
        last answers (the 431 above all) that explain why the connection ends.
        """
        transport = self._transport
        if transport is None or transport.is_closing() or not transport.can_write_eof():
            self._close()
            return
        transport.write_eof()
        self._linger_left = LINGER_BYTES
        self._holds = 0
        transport.resume_reading()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._close)

    async def _write(self, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        assert transport is not None
        head = _head(response, keep_alive)
        body = response.body
        if isinstance(body, bytes | bytearray):
            head += body
            transport.write(head)
            return
        if isinstance(body, FileBody) and response.length is not None:
            await self._send_spans(body, head)
            return
        transport.write(head)
        chunked = response.length is None
        async for chunk in body:
            if not chunk:
                continue
            if chunked:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                transport.write(chunk)
            if not self._writable.is_set():
                await self._drained()
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def _send_spans(self, body: FileBody, head: bytearray) -> None:
        """Bytes in hand go through the transport, the head with those that follow it in one
        write (one read for workerd, not two); file spans go to the socket with sendfile, so a
        large object never passes through Python (measured: 5x less shim CPU per GiB)."""
        transport = self._transport
        assert transport is not None
        try:
            pending = head
            for span in body.spans():
                if span.path is not None:
                    transport.write(pending)
                    pending = bytearray()
                    await self._sendfile(span.path, span.offset, span.count)
                    continue
                pending += span.data
                if len(pending) >= WRITE_BATCH_BYTES:
                    transport.write(pending)
                    pending = bytearray()
                    if not self._writable.is_set():
                        await self._drained()
            if pending:
                transport.write(pending)
                if not self._writable.is_set():
                    await self._drained()
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
            await self._drained()
            # Most bodies fit the socket buffer: no worker thread for those (its hand-off cost
            # as much as the copy); what the socket cannot take now goes on from a thread.
            sent = sendfile_cached(sock.fileno(), path, offset, count)
            if sent < count:
                await asyncio.to_thread(sendfile, sock.fileno(), path, offset + sent, count - sent)
        finally:
            transport.set_write_buffer_limits()

    async def _drained(self) -> None:
        """Until the client has read what the transport holds; a timed listener gives up
        (TimeoutError) on a client that reads nothing for stall_timeout."""
        await asyncio.wait_for(self._writable.wait(), self._limits.stall_timeout)

    def _close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()


# workerd opens one connection per concurrent binding call: a Worker awaiting 1,000 calls
# at once needs them all accepted. asyncio's default backlog of 100 (which it also applies to
# an inherited socket) drops the rest, and a dropped connect waits a second to retry.
BACKLOG = 4096


async def serve_unix(
    handler: Handler, path: str, limits: Limits = BINDING_LIMITS
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    state = ListenerState(limits)
    return await loop.create_unix_server(
        lambda: HttpProtocol(handler, state), path, backlog=BACKLOG
    )


async def serve_socket(handler: Handler, listener: socket.socket, limits: Limits) -> asyncio.Server:
    """Serve on an already-listening socket (inherited from the supervisor)."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    state = ListenerState(limits)
    return await loop.create_server(
        lambda: HttpProtocol(handler, state), sock=listener, backlog=BACKLOG
    )
