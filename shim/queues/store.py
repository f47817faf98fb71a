"""One queue on disk: an SQLite file of its messages (`queues/<name>.sqlite`).

A send is acknowledged only once its rows are committed (WAL: durable against kill -9 of
any process). A message leaves the file only when its consumer acknowledged it, it moved
to the dead-letter queue, or it outlived production's retention; a batch being delivered
is held in memory only, so a crash mid-delivery makes its messages visible again at the
next start: delivery is at least once, as production's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import apsw

from groundflare.shim.inline_first import InlineFirst
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import backup_into, restore_from
from groundflare.shim.space import sqlite_no_space
from groundflare.shim.sqlite import Checkpointer, open_wal

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5_000
SNAPSHOT_FILE = "queue.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,            -- what message.id reads
    timestamp INTEGER NOT NULL,  -- ms since the epoch, when it was sent
    content_type TEXT NOT NULL,  -- json, text, bytes or v8
    body BLOB NOT NULL,          -- as the producer serialized it
    attempts INTEGER NOT NULL,   -- deliveries so far that did not acknowledge it
    visible_at REAL NOT NULL,    -- shim-clock seconds from when it may be delivered
    origin TEXT                  -- the queue it was dead-lettered from; NULL if sent here
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_timestamp ON messages (timestamp);
"""


class NewMessage(NamedTuple):
    id: str
    timestamp: int
    content_type: str
    body: bytes
    visible_at: float
    attempts: int = 0
    origin: str | None = None


class Stored(NamedTuple):
    seq: int
    id: str
    timestamp: int
    content_type: str
    body: bytes
    attempts: int
    visible_at: float
    # The queue that dead-lettered it here (None: sent to this queue).
    origin: str | None = None


class Retry(NamedTuple):
    seq: int
    attempts: int
    visible_at: float


class Backlog(NamedTuple):
    messages: int
    size: int
    # ms since the epoch; 0 when the queue is empty (workerd reads 0 as "none").
    oldest: int


class QueueStore:
    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self.executor = SerialExecutor(name=f"queue:{name}")
        self._runner = InlineFirst(self.executor, BUSY_TIMEOUT_MS)
        self._conn: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._count = 0
        self._bytes = 0
        # Called after every commit that may have made a message deliverable.
        self.listeners: list[Callable[[], None]] = []
        # The messages (seq) a consumer is delivering: its dispatcher shares this set.
        self.leased: set[int] = set()

    # ---- lifecycle ----

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        conn = open_wal(self.path)
        self._runner.attach(conn)
        conn.execute(SCHEMA)
        self._conn = conn
        self._add_origin()
        self._checkpointer = Checkpointer(self.path, conn, self.executor)
        self._recount()

    def _add_origin(self) -> None:
        """A file (or snapshot) from before dead letters recorded where they came from."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(messages)")}
        if "origin" not in columns:
            self.conn.execute("ALTER TABLE messages ADD COLUMN origin TEXT")

    def _recount(self) -> None:
        ((count, size),) = self.conn.execute("SELECT count(*), total(length(body)) FROM messages")
        self._count, self._bytes = count, int(size)

    async def close(self) -> None:
        await self.executor.run(self._close)
        self.executor.close()

    def _close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._checkpointer = None

    async def snapshot(self, into: Path) -> None:
        await self.executor.run(lambda: backup_into(self.conn, into / SNAPSHOT_FILE))

    async def restore(self, source: Path) -> None:
        def restore() -> None:
            restore_from(self.conn, source / SNAPSHOT_FILE)
            self._add_origin()
            self._recount()

        await self.executor.run(restore)
        self._changed()

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, f"queue {self.name} used before open()"
        return self._conn

    # ---- running statements ----

    async def _run(self, op: Callable[..., T], *args: Any) -> T:
        return await self._runner.run(partial(op, *args))

    def _transaction(self, op: Callable[[], T]) -> T:
        """`op` in one write transaction, rolled back on any failure (a full disk included)."""
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

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    # ---- producers ----

    async def send(self, messages: list[NewMessage]) -> Backlog:
        """Commit `messages`; the backlog after them."""
        await self._run(self._insert, messages)
        self._count += len(messages)
        self._bytes += sum(len(m.body) for m in messages)
        self._changed()
        return await self.backlog()

    def _insert(self, messages: list[NewMessage]) -> None:
        def write() -> None:
            self.conn.executemany(
                "INSERT INTO messages "
                "(id, timestamp, content_type, body, visible_at, attempts, origin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                messages,
            )

        self._transaction(write)

    async def backlog(self) -> Backlog:
        return Backlog(self._count, self._bytes, await self._run(self._oldest))

    def _oldest(self) -> int:
        row = self.conn.execute("SELECT min(timestamp) FROM messages").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    # ---- the consumer ----

    async def peek(self, now: float, limit: int) -> tuple[list[Stored], float]:
        """Up to `limit` messages deliverable at `now` that are not leased, oldest first,
        and when the next one after them becomes deliverable (inf: none waits)."""
        return await self._run(self._peek, now, limit)

    def _peek(self, now: float, limit: int) -> tuple[list[Stored], float]:
        leased = self.leased
        ready: list[Stored] = []
        later = math.inf
        for stored in self._listed(limit + len(leased) + 1):
            if stored.seq in leased:
                continue
            if stored.visible_at <= now and len(ready) < limit:
                ready.append(stored)
            else:
                later = min(later, stored.visible_at)
                break
        return ready, later

    async def settle(
        self, acked: Iterable[int], retries: Iterable[Retry], dropped: Iterable[int]
    ) -> None:
        """One batch's outcome, in one transaction: acknowledged and dropped (or dead-lettered)
        messages leave, retried ones wait for their next attempt."""
        gone = [*acked, *dropped]
        removed, freed = await self._run(self._settle, gone, list(retries))
        self._count -= removed
        self._bytes -= freed
        self._changed()

    def _settle(self, gone: list[int], retries: list[Retry]) -> tuple[int, int]:
        """How many of `gone` were deleted and their bytes: the explorer may have moved one
        back from a dead-letter queue while it was being delivered."""

        def write() -> tuple[int, int]:
            conn = self.conn
            removed = freed = 0
            for seq in gone:
                row = conn.execute(
                    "DELETE FROM messages WHERE seq = ? RETURNING length(body)", (seq,)
                ).fetchone()
                if row is not None:
                    removed += 1
                    freed += int(row[0])
            conn.executemany(
                "UPDATE messages SET attempts = ?, visible_at = ? WHERE seq = ?",
                [(r.attempts, r.visible_at, r.seq) for r in retries],
            )
            return removed, freed

        return self._transaction(write)

    # ---- the explorer (read-only listing; dead letters moved back) ----

    async def listed(self, limit: int) -> list[Stored]:
        """Up to `limit` messages in delivery order, leased or not; changes nothing."""
        return await self._run(self._listed, limit)

    def _listed(self, limit: int) -> list[Stored]:
        rows = self.conn.execute(
            "SELECT seq, id, timestamp, content_type, body, attempts, visible_at, origin "
            "FROM messages ORDER BY visible_at, seq LIMIT ?",
            (limit,),
        )
        return [Stored._make(row) for row in rows]

    async def dead_lettered(self) -> dict[str, int]:
        """How many of this queue's messages each queue dead-lettered into it."""
        return await self._run(self._dead_lettered)

    def _dead_lettered(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT origin, count(*) FROM messages WHERE origin IS NOT NULL GROUP BY origin"
        )
        return {origin: int(count) for origin, count in rows}

    async def dead_letters(self, ids: set[str] | None) -> list[Stored]:
        """The dead-lettered messages with these ids (None: all), not being delivered."""
        rows = await self._run(self._listed, -1)
        return [
            row
            for row in rows
            if row.origin is not None
            and row.seq not in self.leased
            and (ids is None or row.id in ids)
        ]

    async def expire(self, sent_before_ms: int) -> int:
        """Delete messages sent before `sent_before_ms` (retention); how many went."""
        gone, freed = await self._run(self._expire, sent_before_ms)
        if gone:
            self._count -= gone
            self._bytes -= freed
        return gone

    def _expire(self, sent_before_ms: int) -> tuple[int, int]:
        def write() -> tuple[int, int]:
            sizes = [
                int(row[0])
                for row in self.conn.execute(
                    "DELETE FROM messages WHERE timestamp < ? RETURNING length(body)",
                    (sent_before_ms,),
                )
            ]
            return len(sizes), sum(sizes)

        if self.conn.execute(
            "SELECT 1 FROM messages WHERE timestamp < ? LIMIT 1", (sent_before_ms,)
        ).fetchone():
            return self._transaction(write)
        return 0, 0
