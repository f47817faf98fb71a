"""SQLite files the shim owns: WAL mode, and checkpoints kept off the event loop.

WAL with synchronous=NORMAL makes every commit durable against kill -9 of any
process (the WAL is in the OS page cache the moment the commit returns); only
a power cut can lose the last commits, as with Miniflare. SQLite's automatic
checkpoint would run (and fsync) inside whichever commit crosses the
threshold, on the event loop; instead a second connection does it on the
resource's own thread.
"""

from __future__ import annotations

from pathlib import Path

import apsw

from shim.serial import SerialExecutor

OPEN_FLAGS = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_NOFOLLOW
# SQLite's own auto-checkpoint threshold, in WAL pages.
CHECKPOINT_PAGES = 1_000
CHECKPOINT_BUSY_TIMEOUT_MS = 5_000


def open_wal(path: Path) -> apsw.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(str(path), flags=OPEN_FLAGS)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Checkpointer:
    """RESTART checkpoints on `executor`'s thread once `conn`'s WAL holds CHECKPOINT_PAGES.

    RESTART blocks new writers while it runs, so the WAL really is reset even
    under a steady stream of writes; a writer on the event loop meets SQLITE_BUSY
    and must retry on the thread, behind the checkpoint.
    """

    def __init__(self, path: Path, conn: apsw.Connection, executor: SerialExecutor) -> None:
        self._executor = executor
        self._pending = False
        self._conn = apsw.Connection(str(path), flags=OPEN_FLAGS)
        self._conn.set_busy_timeout(CHECKPOINT_BUSY_TIMEOUT_MS)
        # A connection only learns the file is in WAL mode on its first read.
        self._conn.execute("PRAGMA journal_mode").fetchall()
        conn.set_wal_hook(self._wal_grew)

    def _wal_grew(self, _conn: apsw.Connection, _name: str, pages: int) -> int:
        if pages >= CHECKPOINT_PAGES and not self._pending:
            self._pending = True
            self._executor.submit(self._checkpoint)
        return apsw.SQLITE_OK

    def _checkpoint(self) -> None:
        self._pending = False
        self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_RESTART)

    def close(self) -> None:
        self._conn.close()
