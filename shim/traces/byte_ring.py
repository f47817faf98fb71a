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
        # Bytes ever written: a position below `_written - _size` has been overwritten.
        self._written = 0

    def put(self, data: bytes) -> int:
        """Copies `data` in; returns where it starts, for `get`. Empty data, or data
        larger than the ring, is not kept (-1)."""
        length = len(data)
        if not length or length > self._size:
            return -1
        start = self._written
        offset = start % self._size
        end = offset + length
        # Equal lengths on both sides: a slice assignment an mmap accepts.
        if end <= self._size:
            self._buffer[offset:end] = data
        else:
            first = self._size - offset
            self._buffer[offset:] = data[:first]
            self._buffer[: length - first] = data[first:]
        self._written = start + length
        return start

    def get(self, start: int, length: int) -> bytes | None:
        """The `length` bytes `put` placed at `start`; None once they were overwritten
        (b"" for what was never kept)."""
        if start < 0:
            return b""
        if start < self._written - self._size:
            return None
        offset = start % self._size
        first = min(length, self._size - offset)
        data = self._buffer[offset : offset + first]
        if first < length:
            data += self._buffer[: length - first]
        return data
