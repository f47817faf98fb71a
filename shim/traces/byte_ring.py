"""The bytes of recent binding calls (what was sent, what was answered) in one buffer
mapped once and overwritten in a circle.

Keeping each call's bytes as its own object made the shim's heap grow by a page every call
or so (orjson's answers are carved from fresh memory, and the kept ones stop it being
reused): a page fault per call, and the D1 bench's log on/off ratio 1.114 where this gives
1.086 (docs/performance.md). Here the memory is touched once, then reused, and what the
request log holds is bounded in bytes, not only in calls.
"""

from __future__ import annotations

import mmap

# Tens of thousands of D1 point queries (their SQL and answer), or 500 answers of 64 KiB.
RING_BYTES = 32 * 1024 * 1024


class ByteRing:
    def __init__(self, size: int = RING_BYTES) -> None:
        # Anonymous memory: the kernel hands out zeroed pages as they are first written, so
        # the shim starts without touching 32 MiB (a bytearray's took it 44 ms).
        self._buffer = mmap.mmap(-1, size)
        self._size = size
        # Where the current lap began, counting every lap's full length: a call's bytes sit
        # at `_lap + offset`, and are overwritten once the writes pass them a lap later.
        self._lap = 0

    def put(self, sent: bytes, answer: bytes) -> int:
        """Copies a call's two halves in, one after the other, at the buffer's own position;
        returns where they start, for `get` (-1: larger than the ring, not kept). A pair that
        does not fit before the end starts the next lap at 0 (the end's stale bytes then read
        as overwritten: never as someone else's)."""
        buffer = self._buffer
        offset = buffer.tell()
        if offset + len(sent) + len(answer) > self._size:
            if len(sent) + len(answer) > self._size:
                return -1
            self._lap += self._size
            buffer.seek(0)
            offset = 0
        buffer.write(sent)
        buffer.write(answer)
        return self._lap + offset

    def get(self, start: int, length: int) -> bytes | None:
        """The `length` bytes at `start` (a position `put` returned, plus an offset into its
        pair); None once they were overwritten, b"" for what was never kept."""
        if start < 0:
            return b""
        if start < self._lap + self._buffer.tell() - self._size:
            return None
        offset = start % self._size
        return self._buffer[offset : offset + length]
