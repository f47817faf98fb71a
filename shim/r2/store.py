"""One R2 bucket: an apsw index plus blob files under `<data_dir>/r2/<bucket>/`.

A value streams through BlobWriter (hashed on the way, never held whole in
memory) and becomes visible in one index transaction; a replaced or deleted
value's file goes only after that commit, and never while a get streams it.
A crash leaves at worst files the index does not name, which `open` sweeps
(shim/sweep.py).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path

import apsw
import orjson

from groundflare.shim.blobs import Blob, BlobDir, BlobWriter, PinnedRead
from groundflare.shim.clock import Clock
from groundflare.shim.r2 import conditions, errors, ranges, rows
from groundflare.shim.r2.index import Index
from groundflare.shim.r2.messages import Conditional, Get, Put
from groundflare.shim.r2.objects import (
    MAX_PUT_BYTES,
    ObjectRecord,
    check_key,
    encode,
    metadata,
    object_meta,
)
from groundflare.shim.snapshot import link_blobs, reconcile_blobs
from groundflare.shim.space import is_no_space
from groundflare.shim.sqlite import is_new
from groundflare.shim.sweep import sweep

MAX_DELETE_KEYS = 1000
# The hash each put option names, with its name in BadDigest messages.
HASHES = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
}
CHECKSUM_IDS = {"md5": "0", "sha1": "1", "sha256": "2", "sha384": "3", "sha512": "4"}


@dataclass
class Served:
    """A get's answer: the object, the span served, and its bytes (pinned until read)."""

    record: ObjectRecord
    span: tuple[int, int]
    body: bytes | PinnedRead


def new_version() -> str:
    return secrets.token_hex(16)


class R2Store:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock
        self.blobs = BlobDir(root / "blobs")
        self.index = Index(root / "index.sqlite", label=root.name)

    # ---- lifecycle ----

    async def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        index_was_new = is_new(self.index.path)
        await self.index.open()
        referenced = self.index.referenced_files()
        label = f"r2 {self.root.name}"
        await self.index.executor.run(sweep, self.blobs, referenced, label, index_was_new)
        self.blobs.prepare()

    async def close(self) -> None:
        await self.index.close()

    async def snapshot(self, into: Path) -> None:
        await self.index.executor.run(self._snapshot, into)

    def _snapshot(self, into: Path) -> None:
        """One job on the bucket's thread: no write can discard a blob in between."""
        link_blobs(self.blobs, self.index.snapshot(into), into)

    async def restore(self, source: Path) -> None:
        files = await self.index.executor.run(self.index.restore, source)
        reconcile_blobs(self.blobs, files, source)

    def discard(self, blobs: list[Blob]) -> None:
        for blob in blobs:
            self.blobs.discard(blob)

    # ---- reads ----

    def head(self, key: str) -> ObjectRecord:
        check_key(key)
        record = rows.find(self.index.reader, key)
        if record is None:
            raise errors.no_such_key()
        return record

    def get(self, request: Get) -> Served:
        """Conditions first, then the range; the object's files are pinned before returning."""
        record = self.head(request.object)
        if request.only_if is not None and not conditions.holds(
            request.only_if, record.etag, record.uploaded
        ):
            failure = errors.precondition_failed()
            failure.metadata = encode(metadata(record, (0, record.size)))
            raise failure
        span = ranges.resolve(record.size, request.range, request.range_header)
        return Served(record=record, span=span, body=self._read(record, *span))

    def _read(self, record: ObjectRecord, offset: int, length: int) -> bytes | PinnedRead:
        if record.blob is not None and record.blob.inline is not None:
            return record.blob.inline[offset : offset + length]
        if record.blob is not None:
            pieces = [record.blob]
        else:
            assert record.upload_id is not None
            pieces = rows.part_blobs(self.index.reader, record.upload_id)
        return self.blobs.reader(pieces, offset, length)

    # ---- writes ----

    async def put(
        self, request: Put, payload: AsyncIterable[bytes], size: int | None
    ) -> ObjectRecord:
        """Store an object; `size` None: not declared (a chunked upload), checked once read."""
        meta = object_meta(request)
        if size is not None and size > MAX_PUT_BYTES:
            raise errors.entity_too_large()
        wanted = {n: getattr(request, n) for n in HASHES if getattr(request, n) is not None}
        writer = BlobWriter(self.blobs, ["md5", *(name for name in wanted if name != "md5")])
        try:
            try:
                blob = await writer.consume(payload, size)
            except OSError as exc:
                if is_no_space(exc):
                    raise  # the binding answers and logs it
                raise errors.internal_error() from exc
            if blob.size > MAX_PUT_BYTES:
                raise errors.entity_too_large()
            checksums = _verified(wanted, blob.digests)
            record = ObjectRecord(
                key=request.object,
                version=new_version(),
                size=blob.size,
                etag=blob.digests["md5"].hex(),
                uploaded=self.clock.now_ms(),
                meta=meta,
                checksums=checksums,
                blob=blob,
                upload_id=None,
            )
            replaced = await self.index.write(lambda conn: _replace(conn, record, request.only_if))
        except BaseException:
            await writer.abort()
            raise
        self.discard(replaced)
        return record

    async def delete(self, keys: list[str]) -> None:
        if not 1 <= len(keys) <= MAX_DELETE_KEYS:
            raise errors.too_many_keys()
        for key in keys:
            check_key(key)

        def delete_all(conn: apsw.Connection) -> list[Blob]:
            return [blob for key in keys for blob in rows.remove(conn, key)]

        self.discard(await self.index.write(delete_all))


def _verified(wanted: dict[str, bytes], digests: dict[str, bytes]) -> bytes:
    """The checksums JSON to store: MD5 always, plus the hash the Worker supplied."""
    checksums = {"0": digests["md5"].hex()}
    for name, provided in wanted.items():
        if provided != digests[name]:
            raise errors.bad_digest(HASHES[name], provided, digests[name])
        checksums[CHECKSUM_IDS[name]] = digests[name].hex()
    return orjson.dumps(checksums)


def _replace(
    conn: apsw.Connection, record: ObjectRecord, only_if: Conditional | None
) -> list[Blob]:
    """Swap in a new row if `only_if` holds against the current one; returns the old blobs."""
    if only_if is not None:
        current = list(
            conn.execute("SELECT etag, uploaded FROM objects WHERE key = ?", (record.key,))
        )
        etag, uploaded = current[0] if current else (None, 0)
        if not conditions.holds(only_if, etag, uploaded):
            raise errors.precondition_failed()
    replaced = rows.remove(conn, record.key)
    rows.insert(conn, record)
    return replaced
