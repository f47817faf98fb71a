"""A full disk (or a full quota), recognised wherever a write meets it.

Blob writes, fsyncs, renames and mkdirs raise OSError ENOSPC or EDQUOT; SQLite reports
SQLITE_FULL when a write runs out of room, but a failed fsync, a WAL index (-shm) that
cannot grow, or EDQUOT come back as SQLITE_IOERR, and only the connection's errno tells
those apart from a broken disk. The bindings answer all of them with their product's
"try again later" error instead of a traceback; nothing is half-written, because a
failed write is rolled back and its blob dropped (see shim/blobs.py), so the same write
succeeds once space is back.
"""

from __future__ import annotations

import errno
import os

import apsw

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, apsw.FullError) or (isinstance(exc, OSError) and exc.errno in NO_SPACE)


def sqlite_no_space(exc: BaseException, conn: apsw.Connection) -> OSError | None:
    """An I/O error of `conn` that was really a full disk, as OSError; read it before any
    other statement (a ROLLBACK) runs on `conn`."""
    if isinstance(exc, apsw.IOError) and conn.system_errno in NO_SPACE:
        code = conn.system_errno
        return OSError(code, f"SQLite: {os.strerror(code)}")
    return None
