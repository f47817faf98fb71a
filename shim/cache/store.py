"""The stack's cache on disk (`cache/default/`): an SQLite index of entries by cache name and
key, bodies inline when small and as blob files otherwise (shim/blobs.py), as KV keeps its
values. Expired entries are invisible at once and deleted lazily."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import apsw

from groundflare.shim.blobs import Blob, BlobDir, BlobWriter, PinnedRead
from groundflare.shim.inline_first import InlineFirst
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import (
    INDEX_FILE,
    backup_into,
    link_blobs,
    reconcile_blobs,
    restore_from,
)
from groundflare.shim.space import sqlite_no_space
from groundflare.shim.sqlite import Checkpointer, is_new, open_wal
from groundflare.shim.sweep import sweep

T = TypeVar("T")
log = logging.getLogger("shim")
BUSY_TIMEOUT_MS = 5_000
# A put deletes this many expired entries on its way.
PURGE_BATCH = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,   -- caches.open(name)'s name; '' for caches.default
    key TEXT NOT NULL,         -- the request URL, or its cf.cacheKey
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,     -- JSON [[name, value], ...] as stored
    vary TEXT,                 -- JSON {header: value of the request put() was given}
    size INTEGER NOT NULL,
    value BLOB,                -- the body when small, else NULL
    file TEXT,                 -- the body's blob file otherwise
    expires REAL NOT NULL,     -- shim-clock seconds
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_expires ON entries (expires);
"""


class Entry(NamedTuple):
    status: int
    headers: str
    vary: str | None
    size: int
    value: bytes | None
    file: str | None
    expires: float


class CacheStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.executor = SerialExecutor(name=f"cache:{root.name}")
        self._runner = InlineFirst(self.executor, BUSY_TIMEOUT_MS)
        self.blobs = BlobDir(root / "blobs")
        self.path = root / INDEX_FILE
        self._conn: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None

    # ---- lifecycle ----

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        was_new = is_new(self.path)
        conn = open_wal(self.path)
        self._runner.attach(conn)
        conn.execute(SCHEMA)
        self._conn = conn
        self._checkpointer = Checkpointer(self.path, conn, self.executor)
        sweep(self.blobs, self._files(), f"cache {self.root.name}", was_new)
        self.blobs.prepare()

    def _files(self) -> list[str]:
        return [f for (f,) in self.conn.execute("SELECT file FROM entries WHERE file NOT NULL")]

    async def close(self) -> None:
        def close() -> None:
            if self._checkpointer is not None:
                self._checkpointer.close()
            if self._conn is not None:
                self._conn.close()
            self._conn = self._checkpointer = None

        await self.executor.run(close)
        self.executor.close()

    async def snapshot(self, into: Path) -> None:
        def snapshot() -> None:
            backup_into(self.conn, into / INDEX_FILE)
            link_blobs(self.blobs, self._files(), into)

        await self.executor.run(snapshot)

    async def restore(self, source: Path) -> None:
        def restore() -> list[str]:
            restore_from(self.conn, source / INDEX_FILE)
            return self._files()

        reconcile_blobs(self.blobs, await self.executor.run(restore), source)

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, "cache used before open()"
        return self._conn

    async def _run(self, op: Callable[..., T], *args: Any) -> T:
        return await self._runner.run(partial(op, *args))

    def _write(self, op: Callable[[], T]) -> T:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = op()
            conn.execute("COMMIT")
        except BaseException as exc:
            no_space = sqlite_no_space(exc, conn)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if no_space is not None:
                raise no_space from exc
            raise
        return result

    # ---- entries ----

    async def get(self, namespace: str, key: str, now: float) -> Entry | None:
        """The live entry, its file pinned by the caller's `read` before it next awaits."""
        row = await self._run(
            lambda: self.conn.execute(
                "SELECT status, headers, vary, size, value, file, expires FROM entries "
                "WHERE namespace = ? AND key = ?",
                (namespace, key),
            ).fetchone()
        )
        if row is None:
            return None
        entry = Entry._make(row)
        return entry if entry.expires > now else None

    def read(self, entry: Entry, offset: int, length: int) -> PinnedRead:
        blob = Blob(size=entry.size, inline=entry.value, file=entry.file)
        return self.blobs.reader([blob], offset, length)

    def writer(self) -> BlobWriter:
        return BlobWriter(self.blobs)

    async def put(self, namespace: str, key: str, entry: Entry, now: float) -> None:
        """Store `entry` (its body already a finished blob), replacing what was there and
        purging a few expired entries on the way."""

        def write() -> list[str]:
            gone = self._purge(now)
            old = self.conn.execute(
                "SELECT file FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
            if old is not None and old[0] is not None:
                gone.append(old[0])
            self.conn.execute(
                "INSERT OR REPLACE INTO entries (namespace, key, status, headers, vary, size, "
                "value, file, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (namespace, key, *entry),
            )
            return gone

        try:
            gone = await self._run(self._write, write)
        except BaseException:
            self._discard(entry.file)
            raise
        for file in gone:
            self._discard(file)

    def _purge(self, now: float) -> list[str]:
        expired = self.conn.execute(
            "SELECT namespace, key, file FROM entries WHERE expires <= ? LIMIT ?",
            (now, PURGE_BATCH),
        ).fetchall()
        for namespace, key, _ in expired:
            self.conn.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            )
        return [str(file) for _, _, file in expired if file is not None]

    async def delete(self, namespace: str, key: str, now: float) -> bool:
        """Whether a live entry was there."""

        def delete() -> tuple[bool, str | None]:
            row = self.conn.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ? RETURNING expires, file",
                (namespace, key),
            ).fetchone()
            return (row is not None and row[0] > now), (None if row is None else row[1])

        live, file = await self._run(self._write, delete)
        self._discard(file)
        return live

    def _discard(self, file: str | None) -> None:
        if file is not None:
            self.blobs.discard(Blob(size=0, file=file))
