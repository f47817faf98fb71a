"""A namespace's SQLite index: one row per key, its value inline or the id of its blob file.

Where statements run is shim/inline_first.py's: an index statement takes
microseconds, so it runs on the event loop; the lock it may meet is our own
Checkpointer's RESTART checkpoint (or another process's, say an SQLite browser),
and an operation that meets it has been rolled back and runs again on the
namespace's thread, waiting up to BUSY_TIMEOUT_MS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import apsw

from groundflare.shim.inline_first import InlineFirst
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.space import sqlite_no_space
from groundflare.shim.sqlite import Checkpointer, open_wal

T = TypeVar("T")
# How long an operation on the thread waits for a lock before SQLITE_BUSY reaches the Worker.
BUSY_TIMEOUT_MS = 5_000
# Expired rows a put deletes on its way, so purging never makes one put slow.
PURGE_BATCH = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key BLOB PRIMARY KEY,  -- UTF-8 bytes: BLOBs compare as bytes, production's list order
    size INTEGER NOT NULL,
    value BLOB,            -- the value itself when small (shim.blobs.INLINE_BYTES), else NULL
    file TEXT,             -- the blob file's id when the value is not inline
    metadata TEXT,         -- JSON text as the Worker sent it
    expiration INTEGER     -- unix seconds
);
CREATE INDEX IF NOT EXISTS entries_expiration ON entries (expiration)
    WHERE expiration IS NOT NULL;
"""

# An update in place: INSERT OR REPLACE deletes and re-inserts, measured ~6x slower here.
UPSERT = """
INSERT INTO entries (key, size, value, file, metadata, expiration) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET size = excluded.size, value = excluded.value,
    file = excluded.file, metadata = excluded.metadata, expiration = excluded.expiration
"""


class Entry(NamedTuple):
    size: int
    value: bytes | None
    file: str | None
    metadata: str | None
    expiration: int | None


class Listed(NamedTuple):
    key: bytes
    expiration: int | None
    metadata: str | None


def _successor(prefix: bytes) -> bytes | None:
    """The smallest key after every key that starts with `prefix` (None: no bound). UTF-8
    never contains the byte 0xFF, so the last byte can always be incremented."""
    return prefix[:-1] + bytes([prefix[-1] + 1]) if prefix else None


class Index:
    def __init__(self, path: Path, executor: SerialExecutor) -> None:
        self.path = path
        self._executor = executor
        self._runner = InlineFirst(executor, BUSY_TIMEOUT_MS)
        self._conn: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None

    # ---- lifecycle (on the namespace's thread) ----

    def open(self) -> None:
        conn = open_wal(self.path)
        self._runner.attach(conn)
        conn.execute(SCHEMA)
        self._conn = conn
        self._checkpointer = Checkpointer(self.path, conn, self._executor)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._checkpointer = None

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, "KV index used before open()"
        return self._conn

    # ---- where operations run ----

    async def run(self, op: Callable[..., T], *args: Any) -> T:
        """Run `op(*args)`; an op that raises BusyError must have left nothing behind."""
        return await self._runner.run(partial(op, *args))

    def _transaction(self, op: Callable[[], T]) -> T:
        """`op` in one write transaction; the lock is taken first, so BUSY means nothing ran.
        A COMMIT that fails (a full disk) is rolled back too, or the connection would stay
        in the transaction and every later BEGIN would fail."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = op()
            conn.execute("COMMIT")
        except BaseException as exc:
            no_space = sqlite_no_space(exc, conn)
            if conn.in_transaction:  # some errors end the transaction themselves
                conn.execute("ROLLBACK")
            if no_space is not None:
                raise no_space from exc
            raise
        return result

    # ---- operations (call through run) ----

    def lookup(self, key: bytes) -> Entry | None:
        row = self.conn.execute(
            "SELECT size, value, file, metadata, expiration FROM entries WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else Entry._make(row)

    def lookup_many(self, keys: list[bytes]) -> list[Entry | None]:
        return [self.lookup(key) for key in keys]

    def store(
        self, key: bytes, entry: Entry, purge_before: float | None
    ) -> tuple[list[str], float | None]:
        """Write `key`'s row, first purging a batch of rows expired by `purge_before` when
        given. Returns the blob files no row names any more and, after a purge, the earliest
        expiration left."""

        def write() -> tuple[list[str], float | None]:
            conn = self.conn
            unreferenced = [] if purge_before is None else self._purge(purge_before, PURGE_BATCH)
            row = conn.execute("SELECT file FROM entries WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] is not None:
                unreferenced.append(row[0])
            conn.execute(UPSERT, (key, *entry))
            return unreferenced, None if purge_before is None else self.next_expiration()

        return self._transaction(write)

    def remove(self, key: bytes) -> str | None:
        """Delete `key`'s row; returns its blob file, if it had one."""
        rows = list(self.conn.execute("DELETE FROM entries WHERE key = ? RETURNING file", (key,)))
        return rows[0][0] if rows else None

    def remove_expired(self, key: bytes, now: float) -> str | None:
        """Delete `key`'s row if it has expired by `now` (a put may have renewed it meanwhile)."""
        rows = list(
            self.conn.execute(
                "DELETE FROM entries WHERE key = ? AND expiration <= ? RETURNING file", (key, now)
            )
        )
        return rows[0][0] if rows else None

    def page(self, prefix: bytes, after: bytes | None, now: float, limit: int) -> list[Listed]:
        """Up to `limit` live keys starting with `prefix`, after `after`, in byte order."""
        start, op = prefix, ">="
        if after is not None and after >= prefix:
            start, op = after, ">"
        end = _successor(prefix)
        bound = "" if end is None else "AND key < :end "
        rows = self.conn.execute(
            f"SELECT key, expiration, metadata FROM entries WHERE key {op} :start {bound}"
            "AND (expiration IS NULL OR expiration > :now) ORDER BY key LIMIT :limit",
            {"start": start, "end": end, "now": now, "limit": limit},
        )
        return [Listed._make(row) for row in rows]

    def purge(self, before: float, batch: int = -1) -> list[str]:
        """Delete up to `batch` (-1: all) rows expired by `before`; returns their files."""
        return self._transaction(lambda: self._purge(before, batch))

    def _purge(self, before: float, batch: int) -> list[str]:
        rows = self.conn.execute(
            "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries "
            "WHERE expiration <= ? ORDER BY expiration LIMIT ?) RETURNING file",
            (before, batch),
        )
        return [file for (file,) in rows if file is not None]

    def next_expiration(self) -> float:
        ((value,),) = self.conn.execute(
            "SELECT min(expiration) FROM entries WHERE expiration IS NOT NULL"
        )
        return math.inf if value is None else value

    def referenced_files(self) -> list[str]:
        """Every blob file a row points at (the start-up sweep keeps these)."""
        return [f for (f,) in self.conn.execute("SELECT file FROM entries WHERE file IS NOT NULL")]
