"""Frontend connections: requests parsed as they arrive, answered strictly in order.

Flow control is the transports' own: a frontend that reads slowly pauses
reading from the sandbox, a sandbox that reads slowly pauses reading from the
frontend. Bodies are never held whole; only a request waiting for an upstream
connection (or behind a pipelined one) buffers, and then at most BUFFER_HIGH
before the frontend is paused.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import httptools

from groundflare.proxy.exchange import Exchange
from groundflare.proxy.headers import Header, Request, is_chunked
from groundflare.proxy.local import Door
from groundflare.proxy.upstream import WRITE_HIGH, Pool, Upstream

BUFFER_HIGH = 1 << 20
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
