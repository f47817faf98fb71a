"""The binding calls the shim served lately, until an invocation's trace claims them.

workerd tells the tail Worker what an invocation was (its event, outcome, console lines)
but not which binding calls it made; the shim sees every call but not which invocation
made it. So the shim keeps each call (its resource, its times, enough of its request and
answer to describe it) in a bounded ring, and an invocation's trace claims the calls to
the resources its Worker binds that happened between its start and its trace's arrival.

Two invocations of Workers binding the same resource that overlap in time both see a call
made in the overlap; the second to claim it marks it `shared` (docs/explorer.md).

Recording one call costs a clock read, a small object and a deque append: workerd's
streaming tail Workers give exact spans instead, but measured 30 % slower binding calls.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterable
from dataclasses import dataclass

from groundflare.shim.kinds import Handler
from groundflare.shim.messages import Body, Request, Response
from groundflare.shim.traces.records import SpanRecord

# Enough of a request body to show a D1 statement and its parameters.
PEEK_BYTES = 4096
# Calls kept for claiming: enough for every call of the invocations in flight.
RING_CALLS = 100_000
# An invocation's start is workerd's millisecond timestamp: allow its rounding.
START_SLACK_SECONDS = 0.002


class PeekedBody:
    """A request body that keeps its first bytes as the handler reads it (D1's SQL)."""

    def __init__(self, body: Body) -> None:
        self._body = body
        self.head = b""

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


@dataclass(slots=True)
class Call:
    tag: str
    started: float  # unix seconds
    ended: float
    method: str
    path: str
    query: str
    # Its headers (cf-r2-request says what an R2 read is and its key).
    headers: dict[str, str]
    status: int
    # The first bytes of the request body, for kinds described by it (D1).
    sent: bytes
    # The answer when it was small bytes (D1's results and meta, R2's written object).
    answer: bytes
    # A call the shim did not serve (a subrequest, a Durable Object's invocation) comes
    # described already.
    span: SpanRecord | None = None
    claimed: bool = False

    @property
    def kind(self) -> str:
        return self.tag.partition(":")[0]


# Kinds whose request body names the operation: D1's SQL, R2's write metadata.
PEEKED_KINDS = frozenset({"d1", "r2"})
ANSWER_BYTES = 64 * 1024


class CallLog:
    def __init__(self, size: int = RING_CALLS) -> None:
        self._ring: deque[Call] = deque(maxlen=size)

    async def serve(self, tag: str, handler: Handler, request: Request) -> Response:
        """Answer one binding call through `handler` and keep it."""
        peeked = None
        if tag.partition(":")[0] in PEEKED_KINDS:
            peeked = PeekedBody(request.body)
            request.body = peeked  # type: ignore[assignment]
        started = time.time()
        status = 500
        answer = b""
        try:
            response = await handler(request)
            status = response.status
            body = response.body
            if isinstance(body, bytes) and len(body) <= ANSWER_BYTES:
                answer = body
            return response
        finally:
            self._ring.append(
                Call(
                    tag,
                    started,
                    time.time(),
                    request.method,
                    request.path,
                    request.query_string,
                    request.headers,
                    status,
                    peeked.head if peeked is not None else b"",
                    answer,
                )
            )

    def add(self, call: Call) -> None:
        self._ring.append(call)

    def claim(
        self, tags: frozenset[str], started: float, ended: float, limit: int
    ) -> tuple[list[tuple[Call, bool]], int]:
        """The calls to `tags` inside [started, ended], oldest first, each with whether an
        earlier claim took it too; at most `limit` of them, and how many more there were."""
        found: list[tuple[Call, bool]] = []
        start = started - START_SLACK_SECONDS
        # Newest first: the ring is in order of the calls' ends.
        for call in reversed(self._ring):
            if call.ended < start:
                break
            if call.tag in tags and call.started >= start and call.ended <= ended:
                found.append((call, call.claimed))
                call.claimed = True
        found.reverse()
        return found[:limit], max(0, len(found) - limit)
