"""Frontend connections: requests parsed as they arrive, answered strictly in order.

Flow control is the transports' own: a frontend that reads slowly pauses
reading from the sandbox (and from itself, so it cannot pile up answers the
proxy gives alone), a sandbox that reads slowly pauses reading from the
frontend. Bodies are never held whole; only a request waiting for an upstream
connection (or behind a pipelined one) buffers, and then at most BUFFER_HIGH
before the frontend is paused.

What a client can make the proxy hold is bounded by `Limits`: a head's size is
counted as llhttp reports it, and bytes it swallows without a callback (the
middle of one long header, which httptools gathers by concatenation) count too,
so an endless header costs one read past the limit, not a quadratic copy.
Deadlines are stamped, not scheduled: `Proxy` sweeps them on a coarse tick, so
the request path pays for a clock read, not a timer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools

from groundflare.proxy.exchange import Exchange
from groundflare.proxy.framing import request_refusal
from groundflare.proxy.headers import Header, Request, local_response
from groundflare.proxy.limits import Limits
from groundflare.proxy.local import Door
from groundflare.proxy.upstream import WRITE_HIGH, Pool, Upstream

log = logging.getLogger("proxy")

BUFFER_HIGH = 1 << 20
# Reasons to stop reading a frontend (besides an upstream whose write buffer is full).
BUFFERED = "request body waiting for the sandbox"
RAW = "bytes after an upgrade request, until the sandbox accepts it"
PIPELINED = "as many requests waiting as the pipeline holds"
UNREAD = "the frontend is not reading its responses"
REFUSED = "a request was refused; what is queued is answered, then the connection closes"


class Closing(Exception):
    """Raised from a parser callback once the connection is closing: parse nothing more."""


class Refusal(Exception):
    """Raised from a parser callback: stop parsing and answer `status` in turn."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(eq=False)
class Proxy:
    """What every frontend connection shares, and the sweep that enforces their deadlines."""

    door: Door
    pool: Pool
    # The Host the sandbox sees, and the header with the token that tells it the request came
    # through here (the sandbox's own header and scheme: X-Groundflare-Sandbox by default).
    host: bytes
    sandbox_credential: Header
    limits: Limits = field(default_factory=Limits)
    fronts: set[Front] = field(default_factory=set)
    _sweep: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._sweep = asyncio.get_running_loop().call_later(self.limits.tick, self.sweep)

    def sweep(self) -> None:
        """Expire the connections whose deadline passed, then sweep again a tick later."""
        now = time.monotonic()
        for front in [front for front in self.fronts if front.deadline <= now]:
            front.expire()
        self.start()

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        for front in list(self.fronts):
            front.close()
        self.pool.close()


class Front(asyncio.Protocol):
    """One frontend connection: requests parsed as they come, answered strictly in order."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.limits = proxy.limits
        self.transport = cast(asyncio.Transport, None)
        # The frontend's address, told to the sandbox as X-Forwarded-For.
        self.client = b""
        self.writable = True
        # The upstream connection feeding this one, paused while this one cannot write.
        self.source: Upstream | None = None
        # The exchange being answered; the frontend waits on nothing else while it is None.
        self.active: Exchange | None = None
        # When the sweep closes this connection unless it is busy by then (time.monotonic).
        self.deadline = math.inf
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[Header] = []
        self._fields: dict[bytes, bytes] = {}
        # A head has begun and not ended; its bytes so far; bytes parsed without a callback.
        self._in_head = False
        self._head_size = 0
        self._silent = 0
        # Requests begun in the read being parsed.
        self._burst = 0
        # The exchange whose request body is arriving.
        self._incoming: Exchange | None = None
        self._waiting: deque[Exchange] = deque()
        self._starting = False
        self._buffered = 0
        self._blocks: set[object] = set()
        self._raw: bytearray | None = None
        self._peer: asyncio.Transport | None = None
        # Writes gathered while corked, sent as one.
        self._out: list[bytes] | None = None
        self._eof = False
        # Parse no more; and (shut) our side is ended, the client's close awaited.
        self._closing = False
        self._shut = False

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if len(self.proxy.fronts) >= self.limits.connections:
            self._closing = True  # the others keep their connections; this one is told why
            busy = local_response(503, b"too many connections", close=True)
            self.transport.write(busy)
            self.transport.close()
            return
        self.transport.set_write_buffer_limits(WRITE_HIGH)
        peer = self.transport.get_extra_info("peername")
        self.client = str(peer[0]).encode() if isinstance(peer, tuple) else b"unknown"
        self.deadline = time.monotonic() + self.limits.idle_seconds
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
                self._parse(data)
            finally:
                self.uncork()

    def eof_received(self) -> bool | None:
        if self._shut:
            return None
        if self._peer is None and self._incoming is None and (self.active or self._waiting):
            self._eof = True  # half-closed after whole requests: answer them, then close
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = self._shut = True
        self.proxy.fronts.discard(self)
        if self._peer is not None:
            self._peer.close()
        for exchange in (self.active, *self._waiting):
            if exchange is not None:
                exchange.abandon()
        self.active = self._incoming = None
        self._waiting.clear()

    def pause_writing(self) -> None:
        self.writable = False
        if self.source is not None:
            self.source.pause()
        if self._peer is None:  # a tunnel's directions pause independently
            self.block(UNREAD)

    def resume_writing(self) -> None:
        self.writable = True
        if self.source is not None:
            self.source.resume()
        self.unblock(UNREAD)

    # ---- parsing ----

    def _parse(self, data: bytes) -> None:
        self._burst = 0
        self._silent += len(data)  # callbacks reset it: what is left was swallowed whole
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._raw = bytearray(data[upgrade.args[0] :])
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if self._closing:
                return  # decided while parsing; what follows is not read
            if isinstance(cause, Refusal):
                self._refuse(cause.status, cause.reason)
                return
            if cause is not None:
                log.error("parsing a request failed", exc_info=cause)
            self._refuse(400, f"malformed HTTP request: {exc}")
            return
        if self._silent > self.limits.head_bytes:
            oversize = self._oversize()
            self._refuse(oversize.status, oversize.reason)
        elif len(self._waiting) >= self.limits.pipeline:
            self.block(PIPELINED)

    def _count(self, size: int) -> None:
        """Charge head (or trailer) bytes against the limit."""
        self._silent = 0
        self._head_size += size
        if self._head_size > self.limits.head_bytes:
            raise self._oversize()

    def _oversize(self) -> Refusal:
        limit = self.limits.head_bytes
        if self._incoming is None:
            return Refusal(431, f"request header fields over {limit} bytes")
        return Refusal(400, f"chunk framing or trailers over {limit} bytes")

    def _refuse(self, status: int, reason: str) -> None:
        """Read no more; answer `status` in turn (or break the request whose body is
        arriving), then close once what is queued before it is answered."""
        self._closing = True
        self.block(REFUSED)
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            incoming.request_broken(status, reason)
            return
        request = Request(
            method=b"GET",
            target=b"/",
            http11=True,
            headers=[],
            fields={},
            keep_alive=False,
            upgrade=False,
            error=(status, reason),
            complete=True,
        )
        self._queue(Exchange(self, request))

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        if self._closing:
            raise Closing
        self._burst += 1
        if self._burst > self.limits.per_read:
            raise Refusal(503, "too many pipelined requests")
        self._url = b""
        self._headers = []
        self._fields = {}
        self._in_head = True
        self._head_size = 0
        self._silent = 0
        self.deadline = time.monotonic() + self.limits.header_seconds

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if not self._in_head:
            return  # a trailer: dropped, the proxy ends chunked bodies itself
        self._headers.append((name, value))
        lower = name.lower()
        seen = self._fields.get(lower)
        if seen is None:
            self._fields[lower] = value
        else:
            self._fields[lower] = seen + (b"; " if lower == b"cookie" else b", ") + value

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._silent = 0
        parser = self._parser
        fields = self._fields
        request = Request(
            method=parser.get_method(),
            target=self._url,
            http11=parser.get_http_version() == "1.1",
            headers=self._headers,
            fields=fields,
            keep_alive=parser.should_keep_alive(),
            upgrade=parser.should_upgrade(),
            chunked=b"transfer-encoding" in fields,
        )
        refusal = request_refusal(request)
        if refusal is not None:
            raise Refusal(*refusal)
        if request.method == b"CONNECT":
            request.error = (405, "CONNECT is not supported: this proxy serves one sandbox")
        elif not request.target.startswith(b"/") and request.target != b"*":
            url = httptools.parse_url(request.target)  # absolute-form: keep path and query
            request.target = (url.path or b"/") + (b"?" + url.query if url.query else b"")
        exchange = self._incoming = Exchange(self, request)
        self._queue(exchange)

    def on_body(self, body: bytes) -> None:
        self._silent = 0
        if self._incoming is not None:
            self._incoming.request_body(body)

    def on_message_complete(self) -> None:
        self._silent = 0
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            incoming.request.complete = True
            incoming.request_end()

    # ---- for exchanges ----

    def write(self, data: bytes) -> None:
        if self._shut:
            return  # ended: the transport takes nothing after write_eof
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
        if self.active is exchange:
            self.active = None
        if close or (self._eof and not self._waiting):
            self.close()
        else:
            self._start_waiting()

    def tunnel(self, upstream: Upstream, rest: bytes) -> None:
        """Relay raw bytes both ways until either side closes (no deadline meanwhile)."""
        self.active = None
        raw, self._raw = self._raw or b"", None
        upstream.exchange = None
        self._peer = upstream.transport
        upstream.peer = self.transport
        self.unblock(RAW)
        self.unblock(UNREAD)
        if raw:
            upstream.write(bytes(raw))
        if rest:
            self.write(rest)

    def close(self) -> None:
        """Send what is written, then end our side and wait for the client to end its own,
        reading and dropping what it still sends: closing with unread bytes would reset
        the connection, and a reset can destroy the answer (a 400, a 431) before the
        client reads it. The sweep cuts a client that takes longer than an idle timeout."""
        if self._shut:
            return
        self._shut = self._closing = True
        self.deadline = time.monotonic() + self.limits.idle_seconds
        if self._out:
            self.transport.write(b"".join(self._out))
            self._out = []
        peer, self._peer = self._peer, None
        if peer is not None:
            peer.close()
        self._raw = None
        if self.transport.is_closing():
            return
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._blocks.clear()
        self.transport.resume_reading()

    def expire(self) -> None:
        """Past the deadline: close an idle connection (408 if it stalled mid-head), cut
        one whose close the client did not drain; a busy one is the sandbox's to end."""
        if self._shut:
            self.transport.abort()
        elif self.active is None and self._peer is None:
            if self._in_head:
                self.write(local_response(408, b"request head not received in time", close=True))
            self.close()

    def _queue(self, exchange: Exchange) -> None:
        self._waiting.append(exchange)
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Start the next request once the one before is answered (iteratively: a pipeline
        of local answers must not recurse); with none left, the idle clock starts."""
        if self._starting:
            return
        self._starting = True
        try:
            while self.active is None and self._waiting and not self._shut:
                exchange = self.active = self._waiting.popleft()
                exchange.start()
        finally:
            self._starting = False
        if len(self._waiting) < self.limits.pipeline:
            self.unblock(PIPELINED)
        if self.active is None:
            wait = self.limits.header_seconds if self._in_head else self.limits.idle_seconds
            self.deadline = time.monotonic() + wait
