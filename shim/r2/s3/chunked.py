"""aws-chunked request bodies (`Content-Encoding: aws-chunked`), decoded as they stream.

Each chunk is `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`, ending with a chunk of
size 0 and, in the trailer forms, header lines (a checksum, a trailer signature) and a
blank line. Signed chunks chain their signatures from the request's own (sigv4.Signed),
so a chunk altered on the way fails the upload; the data passes through in pieces and is
never held whole.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from collections.abc import AsyncIterable, AsyncIterator

from groundflare.shim.r2.s3.errors import S3Error
from groundflare.shim.r2.s3.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    Signed,
)

MAX_LINE = 4096
STREAMING = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})


def _bad(message: str) -> S3Error:
    return S3Error(400, "IncompleteBody", message)


class _Reader:
    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(chunks)
        self._buffer = b""

    async def _more(self) -> None:
        try:
            self._buffer += await anext(self._chunks)
        except StopAsyncIteration:
            raise _bad("the aws-chunked body ended early") from None

    async def line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_LINE:
                raise _bad("an aws-chunked header line is too long")
            await self._more()
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    async def pieces(self, count: int) -> AsyncIterator[bytes]:
        while count > 0:
            if not self._buffer:
                await self._more()
            piece, self._buffer = self._buffer[:count], self._buffer[count:]
            count -= len(piece)
            yield piece

    async def rest_is_empty(self) -> bool:
        if self._buffer:
            return False
        async for chunk in self._chunks:
            if chunk:
                return False
        return True


class Checksums:
    """The trailer's checksum, checked against the data where the algorithm is at hand."""

    HASHES = {"x-amz-checksum-sha256": "sha256", "x-amz-checksum-sha1": "sha1"}

    def __init__(self) -> None:
        self.crc32 = 0
        self.hashes = {name: hashlib.new(algo) for name, algo in self.HASHES.items()}

    def update(self, data: bytes) -> None:
        self.crc32 = zlib.crc32(data, self.crc32)
        for hasher in self.hashes.values():
            hasher.update(data)

    def check(self, name: str, value: str) -> None:
        if name == "x-amz-checksum-crc32":
            actual = base64.b64encode(self.crc32.to_bytes(4, "big")).decode()
        elif name in self.hashes:
            actual = base64.b64encode(self.hashes[name].digest()).decode()
        else:
            return  # crc32c, crc64nvme: not in the standard library; accepted as sent
        if actual != value:
            raise S3Error(
                400,
                "BadDigest",
                f"The {name.removeprefix('x-amz-checksum-').upper()} you specified did not "
                "match the calculated checksum.",
            )


async def decode(
    chunks: AsyncIterable[bytes], signed: Signed | None, payload: str, length: int
) -> AsyncIterator[bytes]:
    """The decoded data of an aws-chunked body whose decoded length is `length`."""
    verify = signed is not None and payload in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
    previous = signed.signature if signed is not None else ""
    reader = _Reader(chunks)
    checksums = Checksums()
    total = 0
    while True:
        size_text, _, extension = (await reader.line()).partition(b";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _bad("an aws-chunked chunk size is not hexadecimal") from None
        hasher = hashlib.sha256()
        async for piece in reader.pieces(size):
            hasher.update(piece)
            checksums.update(piece)
            total += len(piece)
            if total > length:
                raise _bad("the aws-chunked body is longer than x-amz-decoded-content-length")
            yield piece
        if verify:
            assert signed is not None
            name, _, given = extension.decode("latin-1").partition("=")
            expected = signed.chunk_signature(previous, hasher.hexdigest())
            if name != "chunk-signature" or not hmac.compare_digest(given, expected):
                raise S3Error(403, "SignatureDoesNotMatch", "A chunk signature does not match.")
            previous = expected
        if size == 0:
            break
        if await reader.line() != b"":
            raise _bad("an aws-chunked chunk does not end with CRLF")
    if total != length:
        raise _bad("the aws-chunked body is shorter than x-amz-decoded-content-length")
    await _trailer(reader, signed, payload, previous, checksums)


async def _trailer(
    reader: _Reader, signed: Signed | None, payload: str, previous: str, checksums: Checksums
) -> None:
    if payload not in (STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
        await reader.line()  # the CRLF after the last chunk
        return
    lines = []
    while line := await reader.line():
        lines.append(line)
    fields = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    for name, value in fields.items():
        if name.startswith("x-amz-checksum-"):
            checksums.check(name, value)
    if payload == STREAMING_SIGNED_TRAILER and signed is not None:
        signed_part = b"".join(
            line + b"\n"
            for line in lines
            if not line.lower().startswith(b"x-amz-trailer-signature")
        )
        expected = signed.trailer_signature(previous, signed_part)
        if not hmac.compare_digest(fields.get("x-amz-trailer-signature", ""), expected):
            raise S3Error(403, "SignatureDoesNotMatch", "The trailer signature does not match.")
