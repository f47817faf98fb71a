"""Frontend connections and the exchanges they relay to the sandbox.

Everything runs in protocol callbacks: a request head is checked and written
upstream from inside the parser callback that completed it, and body chunks go
straight from one transport to the other. Flow control is the transports' own:
a frontend that reads slowly pauses reading from the sandbox, a sandbox that
reads slowly pauses reading from the frontend. Bodies are never held whole;
only a request waiting for an upstream connection (or behind a pipelined one)
buffers, and then at most BUFFER_HIGH before the frontend is paused.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools

from groundflare.proxy.cors import REPLACED
from groundflare.proxy.headers import Header, Request, client_head, is_chunked, upstream_head
from groundflare.proxy.local import Door
from groundflare.proxy.upstream import WRITE_HIGH, Framing, Pool, Upstream

log = logging.getLogger("proxy")

BUFFER_HIGH = 1 << 20
# Sent again on a fresh connection when a reused one closes before any response.
SAFE = frozenset({b"GET", b"HEAD", b"OPTIONS"})
# Reasons to stop reading a frontend (besides an upstream whose write buffer is full).
BUFFERED = "request body waiting for the sandbox"
RAW = "bytes after an upgrade request, until the sandbox accepts it"


@dataclass(eq=False)
class Proxy:
    """What every frontend connection shares."""

    door: Door
    pool: Pool
    # The Host the sandbox sees, and the token that tells it the request came through here.
    host: bytes
    sandbox_token: bytes
    fronts: set[Front] = field(default_factory=set)

    def close(self) -> None:
        for front in list(self.fronts):
            front.close()
        self.pool.close()


class Exchange:
    """One request and its response, relayed between a frontend and the sandbox."""

    __slots__ = (
        "_chunk_out",
        "_close_front",
        "_connecting",
        "_cors",
        "_discarding",
        "_finished",
        "_framing",
        "_head",
        "_request_done",
        "_response_done",
        "_response_started",
        "_reused",
        "_switching",
        "_upstream_keep_alive",
        "front",
        "request",
        "upstream",
    )

    def __init__(self, front: Front, request: Request) -> None:
        self.front = front
        self.request = request
        self.upstream: Upstream | None = None
        self._connecting: asyncio.Task[Upstream] | None = None
        # What responses to this request add for CORS (nothing unless the origin is listed).
        self._cors: list[Header] = []
        self._head = b""
        self._reused = False
        self._discarding = False
        self._request_done = False
        self._response_started = False
        self._response_done = False
        self._switching = False
        self._framing = Framing.NONE
        self._chunk_out = False
        self._close_front = False
        self._upstream_keep_alive = False
        self._finished = False

    def start(self) -> None:
        request = self.request
        close = not request.keep_alive or request.upgrade or request.error is not None
        proxy = self.front.proxy
        self._cors = proxy.door.cors.headers(request)
        answer = proxy.door.answer(request, self._cors, close)
        if answer is not None:
            self._answer_locally(answer, close)
            return
        self._head = upstream_head(request, proxy.host, proxy.sandbox_token)
        upstream = proxy.pool.take()
        if upstream is None:
            self._connect()
        else:
            self._attach(upstream, reused=True)

    # ---- request side ----

    def request_body(self, chunk: bytes) -> None:
        if self.upstream is not None:
            self.upstream.write(
                b"%x\r\n%b\r\n" % (len(chunk), chunk) if self.request.chunked else chunk
            )
        elif not self._discarding:
            self.front.buffer(self.request, chunk)

    def request_end(self) -> None:
        if self.upstream is not None:
            if self.request.chunked:
                self.upstream.write(b"0\r\n\r\n")
        elif not self._discarding:
            return  # still connecting: _attach sends the end
        self._request_done = True
        self._maybe_finish()

    def _connect(self) -> None:
        self._connecting = asyncio.get_running_loop().create_task(self.front.proxy.pool.connect())
        self._connecting.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Upstream]) -> None:
        self._connecting = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("sandbox unreachable: %s", exc)
            if not self._finished:
                self._unreachable(str(exc) or type(exc).__name__)
        elif self._finished:  # the frontend left while this connected
            self.front.proxy.pool.give_back(task.result())
        else:
            self._attach(task.result(), reused=False)

    def _attach(self, upstream: Upstream, reused: bool) -> None:
        self.upstream = upstream
        self._reused = reused
        upstream.attach(self)
        parts = [self._head]
        chunks = self.front.unbuffer(self.request) if self.request.chunks else []
        if self.request.chunked:
            parts += [b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in chunks]
        else:
            parts += chunks
        if self.request.complete:
            if self.request.chunked:
                parts.append(b"0\r\n\r\n")
            self._request_done = True
        upstream.write(b"".join(parts))

    def _drop_body(self) -> None:
        """Nobody will read the rest of the request body: drop it as it arrives."""
        self._discarding = True
        self.front.unbuffer(self.request)
        self._request_done = self.request.complete

    # ---- response side ----

    def response_head(
        self,
        status: int,
        reason: bytes,
        headers: list[Header],
        listed: bytes | None,
        framing: Framing,
        keep_alive: bool,
    ) -> None:
        request = self.request
        if status < 200 and status != 101:
            if request.http11:  # 100 Continue, 103 Early Hints: passed on as they come
                self.front.write(client_head(status, reason, headers, [], listed=listed))
            return
        self._response_started = True
        self._upstream_keep_alive = keep_alive
        cors = self._cors
        replace = REPLACED if cors else frozenset()
        if status == 101:
            self._switching = True
            if request.upgrade:
                self.front.write(
                    client_head(
                        status,
                        reason,
                        headers,
                        cors,
                        listed=listed,
                        replace=replace,
                        connection=b"upgrade",
                    )
                )
            return
        self._framing = framing
        unframed = framing in (Framing.CHUNKED, Framing.EOF)
        self._chunk_out = unframed and request.http11
        # An HTTP/1.0 client learns where an unframed body ends from the close.
        self._close_front = (
            not request.keep_alive or request.upgrade or (unframed and not request.http11)
        )
        if self._close_front:
            connection: bytes | None = b"close"
        else:
            connection = None if request.http11 else b"keep-alive"
        self.front.write(
            client_head(
                status,
                reason,
                headers,
                cors,
                listed=listed,
                replace=replace,
                chunked=self._chunk_out,
                connection=connection,
            )
        )

    def response_body(self, chunk: bytes) -> None:
        self.front.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if self._chunk_out else chunk)

    def response_end(self) -> None:
        if self._switching:
            return  # llhttp completes the 101's message; the upgrade itself follows
        if self._chunk_out:
            self.front.write(b"0\r\n\r\n")
        self._response_done = True
        self._maybe_finish()

    def switched(self, upstream: Upstream, rest: bytes) -> None:
        """The sandbox answered 101: from here on, bytes both ways, unparsed."""
        self._finished = True
        self.upstream = None
        if not (self._switching and self.request.upgrade):
            log.warning("sandbox switched protocols unasked; cutting the connection")
            upstream.transport.close()
            self.front.close()
            return
        self.front.tunnel(upstream, rest)

    def upstream_lost(self, exc: Exception | None) -> None:
        """The sandbox's connection closed (or broke) while this exchange used it."""
        self.upstream = None
        if self._finished:
            return
        if not self._request_done:
            self._drop_body()
        if not self._response_started:
            if self._reused and self.request.method in SAFE and not self.request.has_body:
                # Most likely an idle connection the sandbox closed as the request went out.
                self._reused = False
                self._request_done = False
                self._discarding = False
                self._connect()
            else:
                self._unreachable(f"connection closed before a response ({exc or 'EOF'})")
        elif self._framing is Framing.EOF and not self._response_done:
            self.response_end()
        elif not self._response_done:
            # The status line is out: the only honest signal left is a cut connection.
            self._finished = True
            self.front.close()
        else:
            self._maybe_finish()

    # ---- ending ----

    def _unreachable(self, reason: str) -> None:
        request = self.request
        close = not request.keep_alive or request.upgrade
        self._answer_locally(Door.unreachable(reason, self._cors, close), close)

    def _answer_locally(self, response: bytes, close: bool) -> None:
        self.front.write(response)
        self._response_done = True
        self._close_front = close
        self._drop_body()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._finished or not self._response_done:
            return
        if not self._request_done and not self._close_front:
            return
        self._finished = True
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.detach()
            if self._upstream_keep_alive and self._request_done:
                self.front.proxy.pool.give_back(upstream)
            else:
                upstream.transport.close()
        self.front.finished(self, self._close_front)

    def abandon(self) -> None:
        """The frontend went away: drop what is in flight."""
        if self._finished:
            return
        self._finished = True
        if self._connecting is not None:
            self._connecting.cancel()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.detach()
            upstream.transport.close()


class Front(asyncio.Protocol):
    """One frontend connection: requests parsed as they come, answered strictly in order."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport = cast(asyncio.Transport, None)
        self.writable = True
        # The upstream connection feeding this one, paused while this one cannot write.
        self.source: Upstream | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[Header] = []
        self._fields: dict[bytes, bytes] = {}
        self._incoming: Request | None = None
        self._receiving: Exchange | None = None
        self._active: Exchange | None = None
        self._waiting: deque[Exchange] = deque()
        self._starting = False
        self._buffered = 0
        self._blocks: set[object] = set()
        self._raw: bytearray | None = None
        self._peer: asyncio.Transport | None = None
        # Writes gathered while corked, sent as one.
        self._out: list[bytes] | None = None
        self._eof = False
        self._closing = False

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH)
        self.proxy.fronts.add(self)

    def data_received(self, data: bytes) -> None:
        if self._peer is not None:
            self._peer.write(data)
        elif self._raw is not None:
            self._raw += data
            if len(self._raw) > BUFFER_HIGH:
                self.block(RAW)
        elif not self._closing:
            self.cork()
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                self._raw = bytearray(data[upgrade.args[0] :])
            except httptools.HttpParserError as exc:
                self._malformed(exc)
            finally:
                self.uncork()

    def eof_received(self) -> bool | None:
        if self._peer is None and self._incoming is None and (self._active or self._waiting):
            self._eof = True  # half-closed after whole requests: answer them, then close
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.proxy.fronts.discard(self)
        if self._peer is not None:
            self._peer.close()
        for exchange in (self._active, *self._waiting):
            if exchange is not None:
                exchange.abandon()
        self._active = self._receiving = None
        self._waiting.clear()

    def pause_writing(self) -> None:
        self.writable = False
        if self.source is not None:
            self.source.pause()

    def resume_writing(self) -> None:
        self.writable = True
        if self.source is not None:
            self.source.resume()

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._fields = {}

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lower = name.lower()
        seen = self._fields.get(lower)
        if seen is None:
            self._fields[lower] = value
        else:
            self._fields[lower] = seen + (b"; " if lower == b"cookie" else b", ") + value

    def on_headers_complete(self) -> None:
        parser = self._parser
        request = Request(
            method=parser.get_method(),
            target=self._url,
            http11=parser.get_http_version() == "1.1",
            headers=self._headers,
            fields=self._fields,
            keep_alive=parser.should_keep_alive(),
            upgrade=parser.should_upgrade(),
            chunked=is_chunked(self._fields.get(b"transfer-encoding")),
        )
        if request.method == b"CONNECT":
            request.error = (405, "CONNECT is not supported: this proxy serves one sandbox")
        elif not request.target.startswith(b"/") and request.target != b"*":
            url = httptools.parse_url(request.target)  # absolute-form: keep path and query
            request.target = (url.path or b"/") + (b"?" + url.query if url.query else b"")
        self._incoming = request
        self._waiting.append(Exchange(self, request))
        self._start_waiting()

    def on_body(self, body: bytes) -> None:
        if self._receiving is not None:
            self._receiving.request_body(body)
        elif self._incoming is not None:
            self.buffer(self._incoming, body)

    def on_message_complete(self) -> None:
        receiving, self._receiving = self._receiving, None
        if self._incoming is not None:
            self._incoming.complete = True
            self._incoming = None
        if receiving is not None:
            receiving.request_end()

    def _malformed(self, exc: httptools.HttpParserError) -> None:
        self._closing = True
        if self._incoming is not None:
            self.close()  # a broken body: the exchange relaying it cannot end well
            return
        message = f"malformed HTTP request: {exc}"
        request = Request(
            method=b"GET",
            target=b"/",
            http11=True,
            headers=[],
            fields={},
            keep_alive=False,
            upgrade=False,
            error=(400, message),
            complete=True,
        )
        self._waiting.append(Exchange(self, request))
        self._start_waiting()

    # ---- for exchanges ----

    def write(self, data: bytes) -> None:
        if self._out is None:
            self.transport.write(data)
        else:
            self._out.append(data)

    def cork(self) -> None:
        if self._out is None:
            self._out = []

    def uncork(self) -> None:
        out, self._out = self._out, None
        if out:
            self.transport.write(b"".join(out))

    def buffer(self, request: Request, chunk: bytes) -> None:
        request.chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > BUFFER_HIGH:
            self.block(BUFFERED)

    def unbuffer(self, request: Request) -> list[bytes]:
        """The request's buffered body, handed over (or dropped) by its exchange."""
        chunks, request.chunks = request.chunks, []
        self._buffered -= sum(map(len, chunks))
        if self._buffered <= BUFFER_HIGH:
            self.unblock(BUFFERED)
        return chunks

    def block(self, reason: object) -> None:
        if not self._blocks and not self.transport.is_closing():
            self.transport.pause_reading()
        self._blocks.add(reason)

    def unblock(self, reason: object) -> None:
        if reason in self._blocks:
            self._blocks.discard(reason)
            if not self._blocks and not self.transport.is_closing():
                self.transport.resume_reading()

    def finished(self, exchange: Exchange, close: bool) -> None:
        if self._active is exchange:
            self._active = None
        if self._receiving is exchange:
            self._receiving = None
        if close or (self._eof and not self._waiting):
            self.close()
        else:
            self._start_waiting()

    def tunnel(self, upstream: Upstream, rest: bytes) -> None:
        """Relay raw bytes both ways until either side closes."""
        self._active = self._receiving = None
        raw, self._raw = self._raw or b"", None
        upstream.exchange = None
        self._peer = upstream.transport
        upstream.peer = self.transport
        self.unblock(RAW)
        if raw:
            upstream.write(bytes(raw))
        if rest:
            self.write(rest)

    def close(self) -> None:
        """Close once what is written is sent."""
        self._closing = True
        if self._out:
            self.transport.write(b"".join(self._out))
            self._out = []
        self.transport.close()

    def _start_waiting(self) -> None:
        """Start the next request once the one before is answered (iteratively: a pipeline
        of local answers must not recurse)."""
        if self._starting:
            return
        self._starting = True
        try:
            while self._active is None and self._waiting and not self.transport.is_closing():
                exchange = self._active = self._waiting.popleft()
                if exchange.request is self._incoming:
                    self._receiving = exchange
                exchange.start()
        finally:
            self._starting = False
