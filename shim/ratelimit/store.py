"""One rate-limit namespace on disk (`ratelimit/<namespace_id>.sqlite`): a counter per key
and period for the current window, so limits hold across restarts and are shared by every
Worker that binds the namespace.

Windows are fixed, `period` seconds long and aligned to the epoch, as Miniflare counts
them; production's are per Cloudflare location and eventually consistent.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import apsw

from groundflare.shim.inline_first import InlineFirst
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import backup_into, restore_from
from groundflare.shim.space import sqlite_no_space
from groundflare.shim.sqlite import Checkpointer, open_wal

BUSY_TIMEOUT_MS = 5_000
SNAPSHOT_FILE = "ratelimit.sqlite"
# Every this many calls, counters of windows long gone are deleted.
PURGE_EVERY = 1_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT NOT NULL,
    period INTEGER NOT NULL,
    window INTEGER NOT NULL,   -- floor(now / period)
    count INTEGER NOT NULL,
    PRIMARY KEY (key, period)
) WITHOUT ROWID;
"""

# One statement: the counter of a new window starts at 1; in the same window it grows while
# under `limit`. RETURNING says whether this call counted.
COUNT = """
INSERT INTO counters (key, period, window, count) VALUES (:key, :period, :window, 1)
ON CONFLICT (key, period) DO UPDATE SET
    count = CASE WHEN window = :window THEN count + 1 ELSE 1 END,
    window = :window
WHERE window != :window OR count < :limit
RETURNING count
"""


class RateLimitStore:
    def __init__(self, path: Path, namespace: str) -> None:
        self.path = path
        self.namespace = namespace
        self.executor = SerialExecutor(name=f"ratelimit:{namespace}")
        self._runner = InlineFirst(self.executor, BUSY_TIMEOUT_MS)
        self._conn: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._calls = 0

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        conn = open_wal(self.path)
        self._runner.attach(conn)
        conn.execute(SCHEMA)
        self._conn = conn
        self._checkpointer = Checkpointer(self.path, conn, self.executor)

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
        await self.executor.run(lambda: backup_into(self.conn, into / SNAPSHOT_FILE))

    async def restore(self, source: Path) -> None:
        await self.executor.run(lambda: restore_from(self.conn, source / SNAPSHOT_FILE))

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, f"rate limit {self.namespace} used before open()"
        return self._conn

    async def hit(self, key: str, limit: int, period: int, now: float) -> bool:
        """Count one call of `key`; whether it is within `limit` for the current window."""
        self._calls += 1
        purge = self._calls % PURGE_EVERY == 0
        return await self._runner.run(partial(self._hit, key, limit, period, now, purge))

    def _hit(self, key: str, limit: int, period: int, now: float, purge: bool) -> bool:
        conn = self.conn
        window = int(now // period)
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                COUNT, {"key": key, "period": period, "window": window, "limit": limit}
            ).fetchone()
            if purge:
                # Windows before the previous one can never count again.
                conn.execute(
                    "DELETE FROM counters WHERE window < CAST(? / period AS INTEGER) - 1", (now,)
                )
            conn.execute("COMMIT")
        except BaseException as exc:
            no_space = sqlite_no_space(exc, conn)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if no_space is not None:
                raise no_space from exc
            raise
        return row is not None
