"""Connections to the sandbox: one exchange at a time each, kept alive in a small pool.

Responses are parsed with httptools (llhttp) and handed to the exchange callback
by callback, so a body chunk goes from the sandbox's socket to the frontend's
without a coroutine switch. The pool's connections are reused LIFO, so a
frontend connection sending request after request keeps using one warm socket.

A connection goes back to the pool only when its last exchange ended without doubt
about where the response ended (see Exchange for the request side): a second
response, or bytes after one in the same read, close it instead, so they can never
pass for the answer to the next frontend's request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, cast

import httptools

from groundflare.proxy.framing import response_framing
from groundflare.proxy.headers import Header

if TYPE_CHECKING:
    from groundflare.proxy.exchange import Exchange
    from groundflare.proxy.front import Front

log = logging.getLogger("proxy")

# Transport write buffers: deep enough that a bulk relay rarely stalls on a pause.
WRITE_HIGH = 1 << 20
MAX_IDLE = 8
CONNECT_SECONDS = 10.0
# Not reused after this long idle: servers close idle connections (Node after 5 s), and a
# request sent on one as it closes cannot always be retried.
IDLE_SECONDS = 4.0


class UnsolicitedResponse(Exception):
    """The sandbox sent a response nobody asked for (a second one, or one while idle)."""


class Upstream(asyncio.Protocol):
    """One connection to the sandbox."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport = cast(asyncio.Transport, None)
        self.exchange: Exchange | None = None
        # The frontend connection this one feeds, for flow control (kept through a tunnel).
        self.front: Front | None = None
        # After a 101: the frontend's transport, written to byte for byte.
        self.peer: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reason = b""
        self._headers: list[Header] = []
        # Read while the head is parsed: the response's framing and its Connection header.
        self._length = False
        self._transfer_encoding: bytes | None = None
        self._connection: bytes | None = None
        self._in_head = True
        # The message being parsed is a 1xx before the real response (100 Continue).
        self._interim = False
        # The exchange's final response is complete: any further message is unsolicited.
        self._answered = False
        self._skip_body = False
        self._paused = False
        self._blocking_front = False
        # Inside _feed; and whether the exchange released this connection for reuse meanwhile.
        self._feeding = False
        self._reuse_after_feed = False
        # Why this side gave up on the connection, told to an exchange still waiting.
        self._broken: BaseException | None = None

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer.write(data)
            return
        front = self.front
        if front is None:
            self.transport.close()  # nobody asked: an idle connection talking is broken
            return
        # Whatever this read makes the frontend's head, body and end go out in one send.
        front.cork()
        try:
            self._feed(data)
        finally:
            front.uncork()

    def _feed(self, data: bytes) -> None:
        self._feeding = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if self.exchange is not None:
                self.exchange.switched(self, data[upgrade.args[0] :])
            return
        except httptools.HttpParserError as exc:
            self._broken = exc.__context__ or exc
            log.warning("sandbox sent a malformed response: %r", self._broken)
            self.transport.close()
            return
        finally:
            self._feeding = False
        if self._skip_body and not self._answered and self.exchange is not None:
            # A response to HEAD: llhttp cannot know it has no body; the exchange closes
            # this connection rather than guess whether one follows.
            self._answered = True
            self.exchange.response_end()
        if self._reuse_after_feed:
            # The whole read parsed without a byte beyond the response: safe to reuse.
            self._reuse_after_feed = False
            self.pool.give_back(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        if self.peer is not None and self.front is not None:
            self.front.close()  # the tunnel's other end
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.upstream_lost(exc or self._broken)
        self._unblock_front()

    def pause_writing(self) -> None:
        if self.front is not None and not self._blocking_front:
            self._blocking_front = True
            self.front.block(self)

    def resume_writing(self) -> None:
        self._unblock_front()

    # ---- httptools callbacks ----

    def on_message_begin(self) -> None:
        if self.exchange is None or self._answered:
            raise UnsolicitedResponse
        self._reason = b""
        self._headers = []
        self._length = False
        self._transfer_encoding = self._connection = None
        self._in_head = True

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # trailers: dropped
        self._headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length":
            self._length = True
        elif lower == b"transfer-encoding":  # repeats are one list (RFC 9110 §5.3)
            self._transfer_encoding = (
                value if self._transfer_encoding is None else self._transfer_encoding + b"," + value
            )
        elif lower == b"connection":
            self._connection = (
                value if self._connection is None else self._connection + b"," + value
            )

    def on_headers_complete(self) -> None:
        self._in_head = False
        exchange = self.exchange
        assert exchange is not None
        status = self._parser.get_status_code()
        method = exchange.request.method
        self._interim = status < 200 and status != 101
        self._skip_body = method == b"HEAD" and not self._interim
        exchange.response_head(
            status,
            self._reason,
            self._headers,
            self._connection,
            response_framing(status, method, self._transfer_encoding, self._length),
            self._parser.should_keep_alive(),
        )

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None and not self._skip_body:
            self.exchange.response_body(body)

    def on_message_complete(self) -> None:
        if self.exchange is not None and not self._skip_body and not self._interim:
            self._answered = True
            self.exchange.response_end()

    # ---- for the exchange ----

    def attach(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._answered = False
        self.front = exchange.front
        exchange.front.source = self
        if not exchange.front.writable:
            self.pause()

    def release(self, reuse: bool) -> None:
        """The exchange is over: keep the connection for another when `reuse`, else close it.
        While a read is being parsed, it waits for the rest of that read to prove silent."""
        self.detach()
        if not reuse or self.transport.is_closing():
            self.transport.close()
        elif self._feeding:
            self._reuse_after_feed = True
        else:
            self.pool.give_back(self)

    def detach(self) -> None:
        """No exchange uses this connection any more."""
        self.exchange = None
        self._unblock_front()
        if self.front is not None and self.front.source is self:
            self.front.source = None
        self.front = None
        self.resume()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def pause(self) -> None:
        """The frontend cannot take more: stop reading the sandbox."""
        if not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _unblock_front(self) -> None:
        if self._blocking_front:
            self._blocking_front = False
            if self.front is not None:
                self.front.unblock(self)


class Pool:
    """Idle connections to the sandbox, most recently used first."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[tuple[Upstream, float]] = []

    def take(self) -> Upstream | None:
        """A warm connection, if one is idle and fresh enough to trust."""
        now = time.monotonic()
        while self._idle:
            upstream, since = self._idle.pop()
            if now - since < IDLE_SECONDS and not upstream.transport.is_closing():
                return upstream
            upstream.transport.close()
        return None

    async def connect(self) -> Upstream:
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(lambda: Upstream(self), self.host, self.port)
        _, upstream = await asyncio.wait_for(connecting, CONNECT_SECONDS)
        return upstream

    def give_back(self, upstream: Upstream) -> None:
        if len(self._idle) >= MAX_IDLE or upstream.transport.is_closing():
            upstream.transport.close()
        else:
            self._idle.append((upstream, time.monotonic()))

    def forget(self, upstream: Upstream) -> None:
        self._idle = [entry for entry in self._idle if entry[0] is not upstream]

    def close(self) -> None:
        for upstream, _ in self._idle:
            upstream.transport.close()
        self._idle.clear()
