"""A KV namespace on disk: an SQLite index plus blob files, under `<data_dir>/kv/<id>/`.

Values up to shim.blobs.INLINE_BYTES live in their index row; larger ones are blob
files, fsynced and renamed into place before the row naming them commits, and
deleted only once no row names them (shim/blobs.py). Keys never become paths.
Expired keys are invisible at once and deleted lazily: when read, in small batches
by puts once something has expired, and all of them at open.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import apsw

from groundflare.shim.blobs import Blob, BlobDir, BlobWriter, PinnedRead
from groundflare.shim.clock import Clock
from groundflare.shim.kv.index import Entry, Index, Listed
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import (
    INDEX_FILE,
    backup_into,
    link_blobs,
    reconcile_blobs,
    restore_from,
)
from groundflare.shim.space import is_no_space
from groundflare.shim.sqlite import is_new
from groundflare.shim.sweep import sweep

log = logging.getLogger("shim")


class KvStore:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock
        self.executor = SerialExecutor(name=f"kv:{root.name}")
        self.blobs = BlobDir(root / "blobs")
        self.index = Index(root / "index.sqlite", self.executor)
        # No row expires before this (unix seconds); puts purge only once it has passed.
        self._next_expiration = math.inf

    # ---- lifecycle ----

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        """Crash recovery: expired rows go, then the start-up sweep (shim/sweep.py)."""
        index_was_new = is_new(self.index.path)
        self.index.open()
        try:
            self.index.purge(self.clock.now())
        except (OSError, apsw.FullError) as exc:
            if not is_no_space(exc):
                raise
            log.warning("kv %s: the disk is full; expired keys are deleted later", self.root.name)
        sweep(self.blobs, self.index.referenced_files(), f"kv {self.root.name}", index_was_new)
        self.blobs.prepare()
        self._next_expiration = self.index.next_expiration()

    async def close(self) -> None:
        await self.executor.run(self.index.close)
        self.executor.close()

    async def snapshot(self, into: Path) -> None:
        await self.executor.run(self._snapshot, into)

    def _snapshot(self, into: Path) -> None:
        backup_into(self.index.conn, into / INDEX_FILE)
        link_blobs(self.blobs, self.index.referenced_files(), into)

    async def restore(self, source: Path) -> None:
        files = await self.executor.run(self._restore_index, source)
        reconcile_blobs(self.blobs, files, source)

    def _restore_index(self, source: Path) -> list[str]:
        restore_from(self.index.conn, source / INDEX_FILE)
        self._next_expiration = self.index.next_expiration()
        return self.index.referenced_files()

    # ---- reading ----

    async def get(self, key: bytes) -> Entry | None:
        """The live entry of `key`. A file-backed value stays readable through `read` as long
        as that starts before the caller next awaits (BlobDir.read pins the file)."""
        entry = await self.index.run(self.index.lookup, key)
        if entry is None or entry.expiration is None:
            return entry
        now = self.clock.now()
        if entry.expiration > now:
            return entry
        with suppress(apsw.FullError):  # still gone for readers; purged later
            self._discard(await self.index.run(self.index.remove_expired, key, now))
        return None

    @asynccontextmanager
    async def pinned(self, keys: list[bytes]) -> AsyncIterator[list[Entry | None]]:
        """The live entries of `keys`, their files kept readable until the block ends."""
        entries = await self.index.run(self.index.lookup_many, keys)
        now = self.clock.now()
        live = [
            None if e is None or (e.expiration is not None and e.expiration <= now) else e
            for e in entries
        ]
        files = [e.file for e in live if e is not None and e.file is not None]
        for file in files:
            self.blobs.acquire(file)
        try:
            yield live
        finally:
            for file in files:
                self.blobs.release(file)

    def read(self, entry: Entry) -> PinnedRead:
        blob = Blob(size=entry.size, inline=entry.value, file=entry.file)
        return self.blobs.reader([blob], 0, entry.size)

    async def read_all(self, entry: Entry) -> bytes:
        if entry.value is not None:
            return entry.value
        return b"".join([chunk async for chunk in self.read(entry)])

    async def list(
        self, prefix: bytes, after: bytes | None, limit: int
    ) -> tuple[list[Listed], bool]:
        """A page of live keys, and whether more follow."""
        rows = await self.index.run(self.index.page, prefix, after, self.clock.now(), limit + 1)
        return rows[:limit], len(rows) > limit

    # ---- writing ----

    def writer(self) -> BlobWriter:
        return BlobWriter(self.blobs)

    async def put(
        self, key: bytes, value: bytes | Blob, metadata: str | None, expiration: int | None
    ) -> None:
        """Index `key`'s value: small ones as bytes (kept in the row), others as a finished
        blob. The value it replaces goes once the commit is done."""
        if isinstance(value, bytes):
            entry = Entry(len(value), value, None, metadata, expiration)
        else:
            entry = Entry(value.size, value.inline, value.file, metadata, expiration)
        now = self.clock.now()
        purge = now if now >= self._next_expiration else None
        try:
            unreferenced, next_expiration = await self.index.run(
                self.index.store, key, entry, purge
            )
        except asyncio.CancelledError:
            # Only possible while queued on the thread, which may still commit: the blob is
            # left to the index, or to the sweep at the next start.
            raise
        except BaseException:
            self._discard(entry.file)
            raise
        if next_expiration is not None:
            self._next_expiration = next_expiration
        elif expiration is not None:
            self._next_expiration = min(self._next_expiration, expiration)
        for file in unreferenced:
            self._discard(file)

    async def delete(self, key: bytes) -> None:
        self._discard(await self.index.run(self.index.remove, key))

    def _discard(self, file: str | None) -> None:
        if file is not None:
            self.blobs.discard(Blob(size=0, file=file))
