"""D1's `rows_read` and `rows_written`, counted inside SQLite as production counts them.

workerd patches SQLite to count, per statement, each row a cursor visits and each row or
index entry written; D1's meta reports those counts. Our SQLite build
(scripts/sqlite/build-apsw.sh, its patch ours) counts the same events for a connection's
outermost statements and reads them out through sqlite3_db_status.
"""

from __future__ import annotations

import apsw

# The op codes scripts/sqlite/d1-rows-metered.patch adds to sqlite3_db_status.
ROWS_READ = 1025
ROWS_WRITTEN = 1026
# workerd's build options the D1 engine relies on beyond the meter (build/BUILD.sqlite3).
REQUIRED_OPTIONS = ("ENABLE_UPDATE_DELETE_LIMIT", "ENABLE_MATH_FUNCTIONS", "DEFAULT_FOREIGN_KEYS")


class SqliteBuildMissing(RuntimeError):
    """The Python environment's apsw is not the SQLite build D1 needs."""


def require(conn: apsw.Connection) -> None:
    """Refuse an apsw without the row meter or workerd's options, saying how to get one."""
    missing = [option for option in REQUIRED_OPTIONS if option not in apsw.compile_options]
    try:
        conn.status(ROWS_READ)
    except apsw.Error:
        missing.insert(0, "D1's row meter")
    if missing:
        raise SqliteBuildMissing(
            f"the SQLite in this Python environment (apsw {apsw.apsw_version()}, SQLite "
            f"{apsw.sqlite_lib_version()}) lacks {', '.join(missing)}: run `make setup`, "
            "which builds it (scripts/sqlite/build-apsw.sh, docs/d1.md)"
        )


def totals(conn: apsw.Connection) -> tuple[int, int]:
    """Rows read and written by the connection's outermost statements so far."""
    return conn.status(ROWS_READ)[0], conn.status(ROWS_WRITTEN)[0]
