"""D1 failures, worded as production words them (workerd's dbErrorMessage)."""

from __future__ import annotations

import apsw


class D1Error(Exception):
    """A query failure the Worker sees as `D1_ERROR: <message>`."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


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
