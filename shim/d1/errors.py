"""D1 failures, worded as production words them (workerd's dbErrorMessage)."""

from __future__ import annotations

import apsw

from groundflare.shim.space import sqlite_no_space


class D1Error(Exception):
    """A query failure the Worker sees as `D1_ERROR: <message>`."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


DISK_FULL_MESSAGE = "database or disk is full: SQLITE_FULL"


def from_sqlite(exc: apsw.Error) -> D1Error:
    """`<errmsg>[ at offset N]: SQLITE_X[ (extended: SQLITE_X_Y)]`."""
    message = str(exc.args[0]) if exc.args else str(exc)
    offset = getattr(exc, "error_offset", -1)
    if offset is not None and offset >= 0:
        message += f" at offset {offset}"
    primary: int | None = getattr(exc, "result", None)
    extended: int | None = getattr(exc, "extendedresult", None)
    if primary is None or primary < 0:
        return D1Error(message)
    message += (
        f": {apsw.mapping_result_codes.get(primary, f'SQLITE_UNKNOWN_ERROR_CODE({primary})')}"
    )
    if extended is not None and extended != primary:
        name = apsw.mapping_extended_result_codes.get(extended)
        if name:
            message += f" (extended: {name})"
    return D1Error(message)


def from_failed_write(exc: apsw.Error, conn: apsw.Connection) -> D1Error:
    """As from_sqlite; a full disk that SQLite reports as an I/O error (a failed fsync, a WAL
    index that cannot grow, a quota) reads as SQLITE_FULL, what the database says when its
    own file cannot grow. Call it before any other statement runs on `conn`."""
    if sqlite_no_space(exc, conn) is not None:
        return D1Error(DISK_FULL_MESSAGE)
    return from_sqlite(exc)
