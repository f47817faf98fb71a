"""D1's `rows_read` and `rows_written`, counted inside SQLite as production counts them.

workerd patches SQLite to count, per statement, each row a cursor visits and each row or
index entry written; D1's meta reports those counts. Our SQLite build
(scripts/sqlite/build-apsw.sh, its patch ours) counts the same events for a connection's
outermost statements and reads them out through sqlite3_db_status. An apsw from PyPI (a
`pip install groundflare` outside the checkout) has no meter: D1 still works there, with
approximate counts and without workerd's options, and says so once in the log.
"""

from __future__ import annotations

import logging

import apsw

log = logging.getLogger("shim")

# The op codes scripts/sqlite/d1-rows-metered.patch adds to sqlite3_db_status.
ROWS_READ = 1025
ROWS_WRITTEN = 1026
# The main database's page count less its freelist, while a transaction is open on it.
PAGES_IN_USE = 1027
# workerd's build options D1 relies on beyond the meter (build/BUILD.sqlite3).
REQUIRED_OPTIONS = ("ENABLE_UPDATE_DELETE_LIMIT", "ENABLE_MATH_FUNCTIONS", "DEFAULT_FOREIGN_KEYS")
_warned = False


def exact(conn: apsw.Connection) -> bool:
    """Whether this apsw is D1's SQLite build; the first time it is not, a warning saying how
    to get it."""
    global _warned
    missing = [option for option in REQUIRED_OPTIONS if option not in apsw.compile_options]
    try:
        conn.status(ROWS_READ)
    except apsw.Error:
        missing.insert(0, "D1's row meter")
    if missing and not _warned:
        _warned = True
        log.warning(
            "the SQLite in this Python environment (apsw %s, SQLite %s) lacks %s: D1's "
            "rows_read/rows_written are approximate and DELETE/UPDATE ... LIMIT is refused; "
            "`make setup` (or scripts/sqlite/build-apsw.sh PYTHON) builds it (docs/d1.md)",
            apsw.apsw_version(),
            apsw.sqlite_lib_version(),
            ", ".join(missing),
        )
    return not missing


def totals(conn: apsw.Connection) -> tuple[int, int]:
    """Rows read and written by the connection's outermost statements so far."""
    return conn.status(ROWS_READ)[0], conn.status(ROWS_WRITTEN)[0]


def pages_in_use(conn: apsw.Connection) -> int | None:
    """What PRAGMA page_count less PRAGMA freelist_count would say, read without running a
    statement (a tenth of a microsecond against two); None outside a transaction or on an
    SQLite without the op, where the caller asks with SQL."""
    try:
        return int(conn.status(PAGES_IN_USE)[0])
    except apsw.Error:
        return None
