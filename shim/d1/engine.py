"""One D1 database: an apsw connection with production's limits and rules.

Where queries run is shim/inline_first.py's: inline under a budget of
INLINE_BUDGET_SECONDS, else on the database's own thread, in order.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import apsw

from groundflare.shim.d1 import meter, statements
from groundflare.shim.d1.authorizer import Authorizer
from groundflare.shim.d1.errors import D1Error, from_failed_write, from_sqlite
from groundflare.shim.d1.values import SqlValue
from groundflare.shim.inline_first import InlineFirst, OverBudget, RunOnThread
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import backup_into, restore_from
from groundflare.shim.sqlite import Checkpointer, open_wal

# workerd's setupSecurity() limits; string/blob/row size is D1's documented 2,000,000 bytes.
LIMITS = {
    apsw.SQLITE_LIMIT_LENGTH: 2_000_000,
    apsw.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    apsw.SQLITE_LIMIT_COLUMN: 100,
    apsw.SQLITE_LIMIT_EXPR_DEPTH: 100,
    apsw.SQLITE_LIMIT_COMPOUND_SELECT: 5,
    apsw.SQLITE_LIMIT_VDBE_OP: 25_000,
    apsw.SQLITE_LIMIT_FUNCTION_ARG: 127,
    apsw.SQLITE_LIMIT_ATTACHED: 0,
    apsw.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 50,
    apsw.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    apsw.SQLITE_LIMIT_TRIGGER_DEPTH: 10,
    apsw.SQLITE_LIMIT_WORKER_THREADS: 0,
}
MAX_SQL_BYTES = LIMITS[apsw.SQLITE_LIMIT_SQL_LENGTH]
# A snapshot's copy of the database (shim/snapshot.py).
DATABASE_COPY = "database.sqlite"
BUSY_TIMEOUT_MS = 5_000
INLINE_BUDGET_SECONDS = 0.001
# prepare()'s cache of split SQL: texts up to this length (typical statements), this many.
CACHED_SQL_CHARS = 4096
CACHED_SQL_TEXTS = 512

T = TypeVar("T")


MULTI_PARAMS_MESSAGE = (
    "When executing multiple SQL statements in a single call, only the last statement "
    "can have parameters."
)
WRONG_BINDINGS_MESSAGE = "Wrong number of parameter bindings for SQL query."
NO_STATEMENTS_MESSAGE = "No SQL statements detected."
NUL_IN_SQL_MESSAGE = "SQL text holds a NUL character (U+0000)"


@dataclass
class StatementResult:
    """What one query object produced: the last statement's rows, the whole query's meta."""

    columns: list[str]
    rows: list[tuple[SqlValue, ...]]
    meta: dict[str, Any] = field(default_factory=dict)

    def objects(self) -> list[dict[str, SqlValue]]:
        """Rows as objects; a duplicate column name keeps its first position, last value (as JS)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class PreparedQuery:
    statements: list[str]
    params: tuple[SqlValue, ...]


def prepare(sql: str, params: tuple[SqlValue, ...]) -> PreparedQuery | None:
    """A query object's statements as workerd runs them; None when D1 drops the object
    (whitespace and indented comments only). A `--` line or a lone `;` is no statement:
    `SQL code did not contain a statement.`, also as one line of exec()."""
    parts = _split_cached(sql) if len(sql) <= CACHED_SQL_CHARS else _split(sql)
    return None if parts is None else PreparedQuery(statements=list(parts), params=params)


def _split(sql: str) -> tuple[str, ...] | None:
    """The statements of `sql` (prepare's reading), None when D1 drops it; raises D1Error."""
    if len(sql.encode("utf-8")) > MAX_SQL_BYTES:
        raise D1Error("statement too long: SQLITE_TOOBIG")
    if (nul := sql.find("\0")) != -1:
        # SQLite reads SQL as a C string and would silently drop what follows a NUL.
        raise D1Error(f"{NUL_IN_SQL_MESSAGE} at offset {nul}: SQLITE_ERROR")
    if statements.is_dropped(sql):
        return None
    try:
        return tuple(statements.multi(sql))
    except statements.NoStatement as exc:
        raise D1Error(str(exc)) from exc


# Workers send the same few statements over and over (a batch of 1,000 INSERTs is one text
# 1,000 times): splitting costs ~5 µs each, a cache hit ~0.1 µs. Refusals are not cached.
_split_cached = functools.lru_cache(maxsize=CACHED_SQL_TEXTS)(_split)


class Database:
    """A D1 database file. All SQLite work happens on the database's own thread."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        self.executor = SerialExecutor(name=f"d1:{label}")
        self.runner = InlineFirst(self.executor, BUSY_TIMEOUT_MS, INLINE_BUDGET_SECONDS)
        self._conn: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._authorizer = Authorizer()
        self._size = 0
        self._commits = 0
        self._boot = int(time.time())
        self._boot_id = secrets.randbits(128)
        self._bookmark: tuple[int, str] = (-1, "")
        self._secret = secrets.token_hex(16)
        self._signature = f" /* {self._secret} */"
        self._page_size = 0
        self._exact = False

    # ---- lifecycle ----

    async def open(self) -> None:
        await self.executor.run(self._open)

    async def close(self) -> None:
        await self.executor.run(self._close)
        self.executor.close()

    def _open(self) -> None:
        conn = open_wal(self.path)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, 1)
        conn.config(apsw.SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0)
        conn.config(apsw.SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)
        self._exact = meter.exact(conn)
        for limit, value in LIMITS.items():
            conn.limit(limit, value)
        conn.authorizer = self._authorizer
        self.runner.attach(conn)
        self._conn = conn
        self._checkpointer = Checkpointer(self.path, conn, self.executor)
        # Fixed for the file's life: Workers may not set it, and VACUUM is refused.
        ((self._page_size,),) = self._trusted("PRAGMA page_size")
        self._size = self._measure_size()

    async def snapshot(self, into: Path) -> None:
        await self.executor.run(backup_into, self.conn, into / DATABASE_COPY)

    async def restore(self, source: Path) -> None:
        await self.executor.run(self._restore, source / DATABASE_COPY)

    def _restore(self, copy: Path) -> None:
        restore_from(self.conn, copy)
        self._size = self._measure_size()
        self._commits += 1

    def _close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._checkpointer = None

    # ---- where work runs ----

    async def call(
        self, fn: Callable[[], T], inline: bool = True, key: Hashable | None = None
    ) -> T:
        """Run `fn` against the connection; `fn` must leave nothing behind on RunOnThread.
        `key` names the work (its SQL) so work known to run long goes to the thread at once."""
        return await self.runner.run(fn, inline, key)

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, "database used before open()"
        return self._conn

    # ---- trusted helpers ----

    def _trusted(self, sql: str) -> list[tuple[Any, ...]]:
        """Our own statements, never interrupted by the inline budget (a COMMIT, once decided,
        completes). Cached statements skip the authorizer, so ours carry a per-boot secret in a
        comment: a Worker cannot send the same text and reuse them."""
        runner, authorizer = self.runner, self._authorizer
        deadline = runner.lift_budget()
        authorizer.trusted = True
        try:
            return self.conn.execute(sql + self._signature).fetchall()
        finally:
            authorizer.trusted = False
            runner.restore_budget(deadline)

    @contextlib.contextmanager
    def trusted(self) -> Iterator[Callable[..., apsw.Cursor]]:
        """groundflare's own reads (the v4 API's info and export), on the database's thread:
        unchecked by the authorizer, never interrupted; each statement carries the per-boot
        secret, so a Worker sending the same text never reuses it from the statement cache."""
        self._authorizer.trusted = True
        try:
            with self.runner.unbudgeted():
                yield lambda sql, params=(): self.conn.execute(
                    f"{sql} /* {self._secret} */", params
                )
        finally:
            self._authorizer.trusted = False

    def run_script(
        self, sqls: Iterable[str], progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Statements of an import, as a Worker's (the authorizer and limits apply), in one
        transaction: all of them or nothing. Keeps no rows; `progress` hears the count run.
        On the database's thread only."""
        conn = self.conn
        size, commits = self._size, self._commits
        started = time.perf_counter()
        count = rows_read = rows_written = changes = 0
        self._trusted("BEGIN IMMEDIATE")
        try:
            for sql in sqls:
                meta = self._run_query(PreparedQuery(statements=[sql], params=())).meta
                count += 1
                rows_read += meta["rows_read"]
                rows_written += meta["rows_written"]
                changes += meta["changes"]
                if progress is not None and count % 1000 == 0:
                    progress(count)
            self._commit()
        except BaseException:
            if conn.in_transaction:
                self._trusted("ROLLBACK")
            self._size, self._commits = size, commits
            raise
        duration = (time.perf_counter() - started) * 1000
        return {
            "num_queries": count,
            "duration": duration,
            "rows_read": rows_read,
            "rows_written": rows_written,
            "changes": changes,
            "changed_db": changes > 0 or self._size != size,
            "size_after": self._size,
        }

    def _measure_size(self) -> int:
        """Pages in use (the freelist left out), as workerd's databaseSize: a DROP TABLE
        shrinks it although the file keeps its length. Inside a transaction, our SQLite
        build reads the same numbers without a statement (once per write of a batch)."""
        pages = meter.pages_in_use(self.conn) if self._exact else None
        if pages is not None:
            return pages * self._page_size
        ((count,),) = self._trusted(
            "SELECT (SELECT page_count FROM pragma_page_count)"
            " - (SELECT freelist_count FROM pragma_freelist_count)"
        )
        return int(count) * self._page_size

    def bookmark(self) -> str:
        """Production's bookmark shape; string order is commit order, also across restarts."""
        if self._bookmark[0] != self._commits:
            text = f"{self._boot:08x}-{self._commits:08x}-00000000-{self._boot_id:032x}"
            self._bookmark = (self._commits, text)
        return self._bookmark[1]

    # ---- running queries ----

    def run_queries(self, queries: list[PreparedQuery]) -> list[StatementResult]:
        """Run the query objects of one request atomically: all succeed, or nothing stays.

        Every attempt is one explicit transaction, a single statement included: whatever
        interrupts it (the inline budget, a lock, SQLITE_BUSY on the size check after the
        write) comes before COMMIT, so the rollback leaves nothing and the re-run on the
        thread applies the write once. Nothing after COMMIT can send it back to the thread.
        Production D1 runs each query in a transaction too, which is why `PRAGMA
        foreign_keys` cannot be switched off past one statement there.
        """
        conn = self.conn
        rowid, size, commits = conn.last_insert_rowid(), self._size, self._commits
        # One statement takes its write lock as it starts; several must hold it throughout.
        single = len(queries) == 1 and len(queries[0].statements) == 1
        try:
            self._trusted("BEGIN" if single else "BEGIN IMMEDIATE")
            try:
                results = [self._run_query(query) for query in queries]
                self._commit()
            except BaseException:
                if conn.in_transaction:
                    self._trusted("ROLLBACK")
                self._size, self._commits = size, commits
                raise
        except (apsw.InterruptError, apsw.BusyError) as exc:
            if not self.runner.inline:
                raise from_sqlite(exc) from exc
            conn.set_last_insert_rowid(rowid)
            if isinstance(exc, apsw.InterruptError):
                raise OverBudget from exc
            raise RunOnThread from exc
        return results

    def _commit(self) -> None:
        """COMMIT; deferred foreign keys (`PRAGMA defer_foreign_keys`) are checked here, and a
        violation is the query's error, worded as SQLite's others; so is a disk too full to
        take the write (the caller rolls it back: nothing of it stays)."""
        try:
            self._trusted("COMMIT")
        except (apsw.ConstraintError, apsw.FullError, apsw.IOError) as exc:
            raise from_failed_write(exc, self.conn) from exc

    def _run_query(self, query: PreparedQuery) -> StatementResult:
        """Statements before the last run as workerd runs them (one step each); `rows_read`
        and `rows_written` are the last statement's, as a Durable Object's SQL cursor reports."""
        conn = self.conn
        started = time.perf_counter()
        changes_before = conn.total_changes()
        rowid_before = conn.last_insert_rowid()
        size_before = self._size
        wrote = False
        *earlier, final = query.statements
        for sql in earlier:
            wrote = not self._run_statement(sql, None, is_last=False)[2] or wrote
        read_before, written_before = meter.totals(conn) if self._exact else (0, 0)
        columns, rows, readonly = self._run_statement(final, query.params, is_last=True)
        wrote = wrote or not readonly
        changes = conn.total_changes() - changes_before
        if self._exact:
            read_after, written_after = meter.totals(conn)
            rows_read, rows_written = read_after - read_before, written_after - written_before
        else:
            # Without the meter (docs/d1.md): rows returned plus rows changed.
            rows_written = changes if wrote else 0
            rows_read = len(rows) + rows_written
        last_row_id = conn.last_insert_rowid()
        if wrote:
            self._size = self._measure_size()
            self._commits += 1
        duration = (time.perf_counter() - started) * 1000
        meta = {
            "served_by": "groundflare",
            "served_by_region": "LOCAL",
            "served_by_primary": True,
            "timings": {"sql_duration_ms": duration},
            "duration": duration,
            "changes": changes,
            "last_row_id": last_row_id,
            "changed_db": changes != 0 or last_row_id != rowid_before or self._size != size_before,
            "size_after": self._size,
            "rows_read": rows_read,
            "rows_written": rows_written,
            "total_attempts": 1,
        }
        return StatementResult(columns=columns, rows=rows, meta=meta)

    def _run_statement(
        self, sql: str, params: tuple[SqlValue, ...] | None, is_last: bool
    ) -> tuple[list[str], list[tuple[SqlValue, ...]], bool]:
        cursor = self.conn.cursor()
        seen: list[tuple[tuple[tuple[str, str | None], ...], bool]] = []

        def trace(cur: apsw.Cursor, _sql: str, _bindings: Any) -> bool:
            seen.append((cur.get_description(), cur.is_readonly))
            return True

        cursor.exec_trace = trace
        self._authorizer.denial = None
        try:
            cursor.execute(sql, params or None)
            # An earlier statement is stepped once (workerd's MULTI), the last to its end.
            rows = cursor.fetchall() if is_last else []
        except apsw.BindingsError as exc:
            raise D1Error(WRONG_BINDINGS_MESSAGE if is_last else MULTI_PARAMS_MESSAGE) from exc
        except (apsw.InterruptError, apsw.BusyError):
            raise
        except apsw.AuthError as exc:
            if self._authorizer.denial is not None:
                raise D1Error(self._authorizer.denial) from exc
            raise from_sqlite(exc) from exc
        except apsw.Error as exc:
            raise from_failed_write(exc, self.conn) from exc
        finally:
            cursor.close()
        if not seen:
            return [], [], True
        description, readonly = seen[-1]
        return [name for name, _ in description], rows, readonly
