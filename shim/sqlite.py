"""SQLite files the shim owns: WAL mode, and checkpoints kept off the event loop.

WAL with synchronous=NORMAL makes every commit durable against kill -9 of any
process (the WAL is in the OS page cache the moment the commit returns); only
a power cut can lose the last commits, as with Miniflare. SQLite's automatic
checkpoint would run (and fsync) inside whichever commit crosses the
threshold, on the event loop; instead a second connection does it on the
resource's own thread.
"""

from __future__ import annotations

import logging
from pathlib import Path

import apsw

from groundflare.shim.serial import SerialExecutor
from groundflare.shim.space import is_no_space, sqlite_no_space

log = logging.getLogger("shim")

OPEN_FLAGS = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_NOFOLLOW
# SQLite's own auto-checkpoint threshold, in WAL pages.
CHECKPOINT_PAGES = 1_000
CHECKPOINT_BUSY_TIMEOUT_MS = 5_000


# SQLite's verdicts on a file that is not, or no longer, a database it can read.
DAMAGE = {
    apsw.NotADBError: "file is not a database",
    apsw.CorruptError: "database disk image is malformed",
}


def damage(exc: BaseException) -> str | None:
    """SQLite's reason when `exc` says a database file is damaged, else None."""
    return next((reason for kind, reason in DAMAGE.items() if isinstance(exc, kind)), None)


def is_new(path: Path) -> bool:
    """Whether opening `path` starts an empty database (no file, or an empty one)."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def open_wal(path: Path) -> apsw.Connection:
    """The file in WAL mode; OSError ENOSPC when there is no room for its -wal and -shm."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(str(path), flags=OPEN_FLAGS)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except apsw.Error as exc:
        no_space = sqlite_no_space(exc, conn)
        conn.close()
        if no_space is not None:
            raise no_space from exc
        raise
    return conn


class Checkpointer:
    """RESTART checkpoints on `executor`'s thread once `conn`'s WAL holds CHECKPOINT_PAGES.

    RESTART blocks new writers while it runs, so the WAL really is reset even
    under a steady stream of writes; a writer on the event loop meets SQLITE_BUSY
    and must retry on the thread, behind the checkpoint.
    """

    def __init__(self, path: Path, conn: apsw.Connection, executor: SerialExecutor) -> None:
        self._executor = executor
        self._path = path
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
        try:
            self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_RESTART)
        except apsw.Error as exc:
            if not (is_no_space(exc) or sqlite_no_space(exc, self._conn)):
                raise
            # The WAL keeps every commit; the next commit past the threshold tries again.
            log.warning("checkpoint of %s postponed: the disk is full", self._path)

    def close(self) -> None:
        self._conn.close()
