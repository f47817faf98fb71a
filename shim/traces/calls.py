"""The binding calls the shim served lately, until an invocation's trace claims them.

workerd tells the tail Worker what an invocation was (its event, outcome, console lines)
but not which binding calls it made; the shim sees every call but not which invocation
made it. So the shim keeps each call (its resource, its times, enough of its request and
answer to describe it) in a bounded ring, and an invocation's trace claims the calls to
the resources its Worker binds that happened between its start and its trace's arrival.

Two invocations of Workers binding the same resource that overlap in time both see a call
made in the overlap; the second to claim it marks it `shared` (docs/explorer.md).

Recording one call costs two clock reads, a tuple, a deque append and a copy of its bytes
into a ring mapped once (shim/traces/byte_ring.py), and no wrapper around the handler
or its body (a request body keeps its first bytes itself): workerd's streaming tail
Workers give exact spans instead, but measured 30 % slower binding calls.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from typing import Any

from groundflare.shim.messages import Request, Response
from groundflare.shim.traces.byte_ring import ByteRing
from groundflare.shim.traces.records import SpanRecord

# Calls kept for claiming: enough for every call of the invocations in flight.
RING_CALLS = 50_000
# An invocation's start is workerd's millisecond timestamp: allow its rounding.
START_SLACK_SECONDS = 0.002


class Call:
    """One binding call, read out of its ring entry when a trace claims it."""

    __slots__ = (
        "answer",
        "ended",
        "headers",
        "kept",
        "method",
        "path",
        "query",
        "sent",
        "span",
        "started",
        "status",
        "tag",
    )

    def __init__(
        self, entry: tuple[Any, ...], ring: ByteRing, span: SpanRecord | None = None
    ) -> None:
        (
            _,
            self.tag,
            self.started,
            self.ended,
            self.method,
            self.path,
            self.query,
            r2_request,
            r2_metadata_size,
            self.status,
            at,
            sent_length,
            answer_length,
        ) = entry
        sent = ring.get(at, sent_length)
        answer = ring.get(at + sent_length, answer_length) if at >= 0 else b""
        # False when newer calls' bytes overwrote this one's (either half) before its trace
        # arrived: then neither half is described, rather than an answer without its question.
        if sent is None or answer is None:
            self.kept, self.sent, self.answer = False, b"", b""
        else:
            self.kept, self.sent, self.answer = True, sent, answer
        self.span = span
        self.headers: dict[str, str] = {}
        if r2_request is not None:
            self.headers["cf-r2-request"] = r2_request
        if r2_metadata_size is not None:
            self.headers["cf-r2-metadata-size"] = r2_metadata_size

    @property
    def kind(self) -> str:
        return str(self.tag).partition(":")[0]


# A ring entry is a tuple of strings and numbers only: the cheapest thing to make on every
# call, and one the garbage collector stops tracking (a ring of Request objects would cost
# every collection a walk over all of them). (seq, tag, started, ended, method, path,
# query, cf-r2-request, cf-r2-metadata-size, status, bytes at, sent length, answer
# length): the bytes, the answer right after what was sent, are in the ByteRing.
SEQ, TAG, STARTED, ENDED = range(4)


# Kinds whose request body names the operation: D1's SQL, R2's write metadata (the first
# three characters of their tags).
PEEKED_KINDS = frozenset({"d1:", "r2:"})
ANSWER_BYTES = 64 * 1024


class CallLog:
    def __init__(self, size: int = RING_CALLS) -> None:
        self._ring: deque[tuple[Any, ...]] = deque(maxlen=size)
        self._bytes = ByteRing()
        self._seq = itertools.count()
        # Entries (by seq) a trace has claimed, and calls the shim did not serve, described
        # (in order of seq).
        self._claimed: set[int] = set()
        self._described: OrderedDict[int, SpanRecord] = OrderedDict()

    def note(self, tag: str, started: float, request: Request, response: Response | None) -> None:
        """One call the shim answered (`response` None: the handler failed), kept for the
        invocation that made it. On every binding call's path: a tuple, an append and, for
        D1 and R2, one copy of its bytes."""
        status = 500 if response is None else response.status
        if tag[:3] in PEEKED_KINDS:
            sent = request.body.head
            answer = b"" if response is None else response.body
            if not isinstance(answer, bytes) or len(answer) > ANSWER_BYTES:
                answer = b""
            at = self._bytes.put(sent, answer)
            sent_length, answer_length = len(sent), len(answer)
            headers = request.headers
            r2_request = headers.get("cf-r2-request")
            r2_metadata_size = headers.get("cf-r2-metadata-size")
        else:
            at, sent_length, answer_length, r2_request, r2_metadata_size = -1, 0, 0, None, None
        self._ring.append(
            (
                next(self._seq),
                tag,
                started,
                time.time(),
                request.method,
                request.path,
                request.query_string,
                r2_request,
                r2_metadata_size,
                status,
                at,
                sent_length,
                answer_length,
            )
        )

    def add(self, tag: str, started: float, ended: float, status: int, span: SpanRecord) -> None:
        """A call the shim did not serve (a subrequest), described already."""
        number = next(self._seq)
        self._described[number] = span
        self._ring.append((number, tag, started, ended, "", "", "", None, None, status, -1, 0, 0))

    def claim(
        self, tags: frozenset[str], started: float, ended: float, limit: int
    ) -> tuple[list[tuple[Call, bool]], int]:
        """The calls to `tags` inside [started, ended], oldest first, each with whether an
        earlier claim took it too; at most `limit` of them, and how many more there were."""
        found: list[tuple[Any, ...]] = []
        keep = found.append
        start = started - START_SLACK_SECONDS
        # Newest first: the ring is in order of the calls' ends.
        for call in reversed(self._ring):
            if call[ENDED] < start:
                break
            if call[TAG] in tags and call[STARTED] >= start and call[ENDED] <= ended:
                keep(call)
        found.reverse()
        claimed = self._claimed
        chosen = [
            (Call(call, self._bytes, self._described.get(call[SEQ])), call[SEQ] in claimed)
            for call in found[:limit]
        ]
        claimed.update(call[SEQ] for call in found)
        self._forget_evicted()
        return chosen, max(0, len(found) - limit)

    def _forget_evicted(self) -> None:
        """Claims and descriptions of entries the ring no longer holds. Claims are swept only
        once they outnumber the ring twice over: a sweep per claim walked them all."""
        if not self._ring:
            return
        oldest = self._ring[0][SEQ]
        if len(self._claimed) > 2 * len(self._ring):
            self._claimed = {seq for seq in self._claimed if seq >= oldest}
        described = self._described
        while described and next(iter(described)) < oldest:
            described.popitem(last=False)
