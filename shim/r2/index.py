"""A bucket's SQLite index: which objects exist, their metadata, and where their bytes are.

Index operations are a few microseconds, far less than handing them to a
thread (docs/performance.md), so they run on the event loop. Reads use their
own connection: in WAL mode they never wait and only see committed rows, so a
get can pin the blob it found before anything else runs. Writes are one
transaction on the other connection with no busy wait; one that meets a lock
(our checkpoint, or another process such as a SQLite browser) is rolled back
and run again on the bucket's thread, and later writes queue behind it there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import apsw

from groundflare.shim.inline_first import InlineFirst
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import INDEX_FILE, backup_into, restore_from
from groundflare.shim.space import sqlite_no_space
from groundflare.shim.sqlite import Checkpointer, open_wal

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5_000
# A WAL reader waits only while another connection recovers the WAL index.
READ_BUSY_TIMEOUT_MS = 1_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT NOT NULL UNIQUE COLLATE BINARY,  -- UTF-8 byte order, as R2 lists
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL,                -- ms since the epoch
    http BLOB,                                -- httpFields JSON; NULL: none given
    custom BLOB,                              -- customFields JSON; NULL: none given
    checksums BLOB NOT NULL,                  -- {"0": md5 hex, ...}
    storage_class TEXT NOT NULL,
    ssec_key_md5 TEXT,
    upload_id TEXT,                           -- multipart: the parts of this upload
    file TEXT,                                -- single part: a blob file ...
    value BLOB                                -- ... or the bytes (last: lists skip them)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    http BLOB,
    custom BLOB,
    storage_class TEXT NOT NULL,
    ssec_key_md5 TEXT,
    created INTEGER NOT NULL,
    state INTEGER NOT NULL                    -- 0 open, 1 completed, 2 aborted
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    md5 BLOB NOT NULL,
    file TEXT,
    value BLOB,
    PRIMARY KEY (upload_id, part_number)
);
CREATE INDEX IF NOT EXISTS uploads_open ON uploads (created) WHERE state = 0;
"""


class Index:
    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.executor = SerialExecutor(name=f"r2:{label}")
        self._runner = InlineFirst(self.executor, BUSY_TIMEOUT_MS)
        self._reader: apsw.Connection | None = None
        self._writer: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        writer = open_wal(self.path)
        writer.execute(SCHEMA)
        self._runner.attach(writer)
        reader = apsw.Connection(
            str(self.path), flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_NOFOLLOW
        )
        reader.set_busy_timeout(READ_BUSY_TIMEOUT_MS)
        self._writer, self._reader = writer, reader
        self._checkpointer = Checkpointer(self.path, writer, self.executor)

    async def close(self) -> None:
        await self.executor.run(self._close)
        self.executor.close()

    def _close(self) -> None:
        for closable in (self._checkpointer, self._reader, self._writer):
            if closable is not None:
                closable.close()
        self._checkpointer = self._reader = self._writer = None

    @property
    def reader(self) -> apsw.Connection:
        """For reads on the event loop: committed rows only, never a wait."""
        assert self._reader is not None, "index used before open()"
        return self._reader

    async def write(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run `fn` in one write transaction; it must have no effect outside the database."""
        return await self._runner.run(partial(self._transaction, fn))

    def _transaction(self, fn: Callable[[apsw.Connection], T]) -> T:
        conn = self._writing()
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            no_space = sqlite_no_space(exc, conn)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if no_space is not None:
                raise no_space from exc
            raise
        return result

    def _writing(self) -> apsw.Connection:
        assert self._writer is not None, "index used before open()"
        return self._writer

    def snapshot(self, into: Path) -> list[str]:
        """On the bucket's thread: the index copied into `into`; the blob files it names."""
        backup_into(self._writing(), into / INDEX_FILE)
        return self.referenced_files()

    def restore(self, source: Path) -> list[str]:
        """On the bucket's thread: the index becomes the copy in `source`; the blob files it
        names (for the caller to put back in place)."""
        restore_from(self._writing(), source / INDEX_FILE)
        return self.referenced_files()

    def referenced_files(self) -> list[str]:
        """Every blob file a row points at (the start-up sweep keeps these)."""
        rows = self.reader.execute(
            "SELECT file FROM objects WHERE file IS NOT NULL "
            "UNION ALL SELECT file FROM parts WHERE file IS NOT NULL"
        )
        return [file for (file,) in rows]
