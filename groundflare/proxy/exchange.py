"""One request and its response, relayed between a frontend and the sandbox.

Everything runs in protocol callbacks: the request head is checked and written
upstream from inside the parser callback that completed it, body chunks go
straight from one transport to the other, and the response comes back the same
way. The exchange ends when both directions are done; its upstream connection
then goes back to the pool only if nothing leaves doubt about where the next
response starts: the sandbox keeps it alive, the response was framed by length or
chunks, and the whole request was sent before the response began (a sandbox that
answers early may not have read the body, and would read its rest as a request).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING

from groundflare.proxy.cors import REPLACED
from groundflare.proxy.framing import Framing
from groundflare.proxy.headers import Header, Request, client_head, local_response, upstream_head
from groundflare.proxy.local import Door
from groundflare.proxy.upstream import Upstream

if TYPE_CHECKING:
    from groundflare.proxy.front import Front

log = logging.getLogger("proxy")

# Sent again on a fresh connection when a reused one closes before any response.
SAFE = frozenset({b"GET", b"HEAD", b"OPTIONS"})


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
        "_reuse",
        "_reused",
        "_switching",
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
        # Whether the upstream connection may serve another exchange afterwards.
        self._reuse = False
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
        self._head = upstream_head(request, proxy.host, proxy.sandbox_credential, self.front.client)
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
        elif not self._discarding and not self._finished:
            self.front.buffer(self.request, chunk)

    def request_end(self) -> None:
        if self.upstream is not None:
            if self.request.chunked:
                self.upstream.write(b"0\r\n\r\n")
        elif not self._discarding:
            return  # still connecting: _attach sends the end
        self._request_done = True
        self._maybe_finish()

    def request_broken(self, status: int, reason: str) -> None:
        """The request cannot be read to its end (a malformed chunked body, trailers too
        large): answer `status` if nothing is answered yet, else cut the frontend."""
        if self._finished:
            return
        if self.front.active is not self:  # still queued: answered in its turn
            self.request.error = (status, reason)
            return
        if self._response_started or self._response_done:
            self.abandon()
            self.front.close()
            return
        upstream, self.upstream = self.upstream, None
        if upstream is not None:  # it holds half a request: never reused
            upstream.release(reuse=False)
        self._answer_locally(local_response(status, reason.encode(), close=True), close=True)

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
        self._reuse = (
            keep_alive
            and framing is not Framing.EOF
            and request.method != b"HEAD"
            and not request.upgrade
            and self._request_done
        )
        cors = self._cors
        head = partial(
            client_head,
            status,
            reason,
            headers,
            cors,
            listed=listed,
            replace=REPLACED if cors else frozenset(),
        )
        if status == 101:
            self._switching = True
            if request.upgrade:
                self.front.write(head(connection=b"upgrade"))
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
        self.front.write(head(chunked=self._chunk_out, connection=connection))

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

    def upstream_lost(self, exc: BaseException | None) -> None:
        """The sandbox's connection closed (or broke) while this exchange used it."""
        self.upstream = None
        if self._finished:
            return
        if not self._request_done:
            self._drop_body()
        if not self._response_started:
            closed = exc is None or isinstance(exc, OSError)  # not a response we refused
            request = self.request
            if closed and self._reused and request.method in SAFE and not request.has_body:
                # Most likely an idle connection the sandbox closed as the request went out.
                self._reused = False
                self._request_done = False
                self._discarding = False
                self._connect()
            elif closed:
                self._unreachable(f"connection closed before a response ({exc or 'EOF'})")
            else:
                self._unreachable(f"malformed response ({exc})")
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
            upstream.release(self._reuse and self._request_done)
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
            upstream.release(reuse=False)
