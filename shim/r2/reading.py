"""An object's bytes on their way out: a span across its blobs, files pinned while in flight.

A get pins the files it found in the same step that found them, so a put or
delete that commits meanwhile defers their deletion (BlobDir.discard). The pins
go when the body is read to its end, fails, or is dropped unread: a generator's
`finally` would not run for a body the server never started to send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from shim.blobs import Blob, BlobDir


class Pinned:
    def __init__(self, blobs: BlobDir, pieces: list[Blob], offset: int, length: int) -> None:
        self._blobs = blobs
        self._files = [blob.file for blob in pieces if blob.file is not None]
        for file in self._files:
            blobs.acquire(file)
        self._chunks = _span(blobs, pieces, offset, length)

    def __aiter__(self) -> Pinned:
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


async def _span(
    blobs: BlobDir, pieces: list[Blob], offset: int, length: int
) -> AsyncIterator[bytes]:
    """Bytes [offset, offset + length) of the pieces laid end to end."""
    start, end = 0, offset + length
    for blob in pieces:
        stop = start + blob.size
        if stop > offset and start < end:
            first = max(offset, start) - start
            async for chunk in blobs.read(blob, first, min(end, stop) - start - first):
                yield chunk
        start = stop
