"""Values and objects as bytes on disk: small ones inline in the index, larger ones as files.

A key never becomes a path: a file's name is a random id, under `blobs/<2 hex>/`.
Writes go to `blobs/tmp/`, are fsynced, renamed into place and only then
referenced by an index commit; a replaced file is unlinked only after the
index stops pointing at it, and never while a reader streams it. A crash at
any point leaves at worst a temp file or an unreferenced file, which the
start-up sweep (shim/sweep.py) deletes or moves aside. A write that fails (a
full disk) leaves neither: `abort` removes its file whatever state it is in.

Values up to INLINE_BYTES live in the index row itself: a file and an fsync per
1 KiB KV put would cost more than the rest of the request (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

INLINE_BYTES = 64 * 1024
# Every file's name: 16 random bytes in hex. Only names like this are ever ours.
FILE_ID = re.compile(r"[0-9a-f]{32}")
# File I/O happens on worker threads in pieces of this size.
IO_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Span:
    """Part of a body: bytes in hand, or `count` bytes of a file from `offset`."""

    data: bytes = b""
    path: Path | None = None
    offset: int = 0
    count: int = 0


@dataclass(frozen=True)
class Blob:
    size: int
    inline: bytes | None = None
    file: str | None = None
    digests: dict[str, bytes] = field(default_factory=dict)


class BlobDir:
    """The files of one namespace or bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self._readers: Counter[str] = Counter()
        self._doomed: set[str] = set()

    def path(self, file_id: str) -> Path:
        return self.root / file_id[:2] / file_id

    def prepare(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    # ---- readers and deferred deletion (event-loop side) ----

    def acquire(self, file_id: str) -> None:
        self._readers[file_id] += 1

    def release(self, file_id: str) -> None:
        self._readers[file_id] -= 1
        if self._readers[file_id] <= 0:
            del self._readers[file_id]
            if file_id in self._doomed:
                self._doomed.discard(file_id)
                self.path(file_id).unlink(missing_ok=True)

    def discard(self, blob: Blob | None) -> None:
        """Forget a blob the index no longer references."""
        if blob is None or blob.file is None:
            return
        if self._readers[blob.file]:
            self._doomed.add(blob.file)
        else:
            self.path(blob.file).unlink(missing_ok=True)

    # ---- reading ----

    def reader(self, pieces: list[Blob], offset: int, length: int) -> PinnedRead:
        """Bytes [offset, offset + length) of `pieces` laid end to end. Their files are pinned
        now, in the same step as the caller's index lookup, so a replace that commits before
        the body is sent cannot take them away."""
        return PinnedRead(self, pieces, offset, length)


class PinnedRead:
    """The bytes of a span of blobs, whose files stay readable until the body is done.

    The pins go when the bytes are sent or read to the end, when that fails, when it is
    closed, or when it is dropped unread (a server may never start sending a body). A
    server that can send files itself (sendfile) asks for `spans()`; anyone else
    iterates and gets IO_CHUNK pieces read on worker threads.
    """

    def __init__(self, blobs: BlobDir, pieces: list[Blob], offset: int, length: int) -> None:
        self._blobs = blobs
        self._files = [blob.file for blob in pieces if blob.file is not None]
        for file in self._files:
            blobs.acquire(file)
        self._spans = _cut(blobs, pieces, offset, length)
        # A module function, not a method: a generator holding `self` would make a cycle,
        # and a dropped body would keep its pins until the garbage collector ran.
        self._chunks: AsyncGenerator[bytes, None] = _read_spans(self._spans)

    def prepend(self, data: bytes) -> None:
        """Bytes to send before the span (R2's metadata JSON), before reading starts."""
        self._spans.insert(0, Span(data=data))

    def spans(self) -> list[Span]:
        return list(self._spans)

    def __aiter__(self) -> PinnedRead:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        await self._chunks.aclose()
        self._unpin()

    def _unpin(self) -> None:
        files, self._files = self._files, []
        for file in files:
            self._blobs.release(file)

    def __del__(self) -> None:
        self._unpin()


def _cut(blobs: BlobDir, pieces: list[Blob], offset: int, length: int) -> list[Span]:
    """Bytes [offset, offset + length) of the pieces laid end to end, as spans."""
    spans = []
    start, end = 0, offset + length
    for blob in pieces:
        stop = start + blob.size
        if stop > offset and start < end:
            first = max(offset, start) - start
            last = min(end, stop) - start
            if blob.inline is not None:
                spans.append(Span(data=blob.inline[first:last]))
            else:
                assert blob.file is not None
                spans.append(Span(path=blobs.path(blob.file), offset=first, count=last - first))
        start = stop
    return spans


async def _read_spans(spans: list[Span]) -> AsyncGenerator[bytes, None]:
    for span in spans:
        if span.path is None:
            if span.data:
                yield span.data
            continue
        handle = await asyncio.to_thread(_open_at, span.path, span.offset)
        try:
            remaining = span.count
            while remaining > 0:
                chunk = await asyncio.to_thread(handle.read, min(IO_CHUNK, remaining))
                if not chunk:
                    raise OSError(f"{span.path} ended {remaining} bytes early")
                remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()


def _open_at(path: Path, offset: int) -> IO[bytes]:
    handle = path.open("rb")
    handle.seek(offset)
    return handle


class BlobWriter:
    """Receives one value in chunks: kept in memory while small, spilled to a temp file after."""

    def __init__(self, blobs: BlobDir, algorithms: Sequence[str] = ()) -> None:
        self._blobs = blobs
        self._hashers = {name: hashlib.new(name) for name in algorithms}
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._size = 0
        self._file_id: str | None = None
        self._handle: IO[bytes] | None = None
        self._in_flight: asyncio.Future[list[None]] | None = None

    async def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self._size += len(chunk)
        if self._size > INLINE_BYTES and self._pending_size >= IO_CHUNK:
            await self._spill()

    async def _spill(self) -> None:
        """Hand a piece to the threads; the next piece is received while this one is stored.

        The file write and each hash run on their own threads at once (hashlib and
        file writes release the GIL), so a put costs the slowest of them, not their sum.
        """
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        await self._settle()
        jobs = [asyncio.to_thread(self._write_file, data)]
        jobs += [asyncio.to_thread(hasher.update, data) for hasher in self._hashers.values()]
        self._in_flight = asyncio.gather(*jobs)

    async def _settle(self) -> None:
        """Wait for the piece in flight (pieces are written and hashed in order)."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    def _write_file(self, data: bytes) -> None:
        if self._handle is None:
            self._file_id = secrets.token_hex(16)  # a FILE_ID
            self._handle = (self._blobs.tmp / self._file_id).open("wb")
        self._handle.write(data)

    async def consume(self, payload: AsyncIterable[bytes], size: int | None) -> Blob:
        """Write a whole body and finish; a body of another size than declared is an error
        (None: a body of unknown size, e.g. a chunked upload to the v4 API)."""
        async for chunk in payload:
            await self.write(chunk)
        blob = await self.finish()
        if size is not None and blob.size != size:
            raise OSError(f"body ended at {blob.size} of {size} declared bytes")
        return blob

    async def finish(self) -> Blob:
        """Make the value durable; the caller then references it from an index commit."""
        if self._size <= INLINE_BYTES:
            data = b"".join(self._pending)
            for hasher in self._hashers.values():
                hasher.update(data)
            return Blob(size=self._size, inline=data, digests=self._digests())
        if self._pending:
            await self._spill()
        await self._settle()
        await asyncio.to_thread(self._commit_file)
        return Blob(size=self._size, file=self._file_id, digests=self._digests())

    def _digests(self) -> dict[str, bytes]:
        return {name: hasher.digest() for name, hasher in self._hashers.items()}

    def _commit_file(self) -> None:
        assert self._handle is not None and self._file_id is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        final = self._blobs.path(self._file_id)
        final.parent.mkdir(exist_ok=True)
        (self._blobs.tmp / self._file_id).replace(final)
        _fsync_dir(final.parent)

    async def abort(self) -> None:
        """Drop a value that will not be committed (bad input, failed condition, full disk)."""
        with contextlib.suppress(Exception):
            await self._settle()
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with contextlib.suppress(OSError):  # flushing what is left fails on a full disk
                handle.close()
        if self._file_id is not None:
            for path in (self._blobs.tmp / self._file_id, self._blobs.path(self._file_id)):
                path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
