"""The request log on disk: `traces/traces.sqlite` in the data dir, three tables.

    invocations  one row per Worker invocation (fetch, scheduled, queue, alarm, ...)
    spans        the binding calls it made (D1 SQL with meta, KV and R2 operations, ...)
    logs         its console.* lines and uncaught exceptions (source-mapped stacks)

Writes run in order on the store's own thread. Retention is bounded by age and by the
file's size (TraceRetention): the oldest invocations go first. Anyone may read it with
read-only SQL (`query`), as Miniflare's local observability offers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import orjson

from groundflare.contracts.traces import TraceRetention
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.sqlite import OPEN_FLAGS, damage, is_new, open_wal
from groundflare.shim.traces.records import InvocationRecord, LogRecord, SpanRecord

log = logging.getLogger("shim")

TRACES_FOLDER = "traces"
BUSY_TIMEOUT_MS = 5_000
TRACES_FILE = "traces.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    id INTEGER PRIMARY KEY,
    worker TEXT NOT NULL,
    type TEXT NOT NULL,            -- fetch, scheduled, queue, alarm, websocket, email, rpc
    started REAL NOT NULL,         -- unix seconds
    duration_ms REAL NOT NULL,
    outcome TEXT NOT NULL,         -- ok, exception, canceled, exceededCpu, ...
    status INTEGER,                -- a fetch's response status
    method TEXT,
    url TEXT,
    trigger TEXT,                  -- a cron expression, a queue name, an RPC method
    execution_model TEXT NOT NULL, -- stateless or durableObject
    event TEXT NOT NULL,           -- JSON: the event as workerd described it
    spans_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS invocations_by_worker ON invocations (worker, id);
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    invocation INTEGER NOT NULL REFERENCES invocations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,            -- d1.query, kv.get, r2.put, fetch, ...
    resource TEXT NOT NULL,        -- the resource's tag (d1:<id>), or a subrequest's URL
    started REAL NOT NULL,
    duration_ms REAL NOT NULL,
    status INTEGER NOT NULL,
    shared INTEGER NOT NULL,       -- 1: inside a concurrent invocation's time as well
    attributes TEXT NOT NULL       -- JSON: SQL and meta, key, size, ...
);
CREATE INDEX IF NOT EXISTS spans_by_invocation ON spans (invocation);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    invocation INTEGER NOT NULL REFERENCES invocations (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    level TEXT NOT NULL,           -- log, info, debug, warn, error, exception
    message TEXT NOT NULL,
    stack TEXT
);
CREATE INDEX IF NOT EXISTS logs_by_invocation ON logs (invocation);
"""

# What read-only SQL may do: read the three tables, call functions, nothing else.
READ_ACTIONS = frozenset(
    {apsw.SQLITE_SELECT, apsw.SQLITE_READ, apsw.SQLITE_FUNCTION, apsw.SQLITE_RECURSIVE}
)
QUERY_ROWS = 1000
QUERY_SECONDS = 2.0
# Retention runs after this many new invocations (and at open).
PRUNE_EVERY = 64


class QueryError(Exception):
    """Read-only SQL that SQLite or the store refused; the message is SQLite's."""


@dataclass
class Filters:
    """What the log shows: any of them narrows it."""

    worker: str | None = None
    type: str | None = None
    outcome: str | None = None
    # Substring of the URL, cron, queue, or of any log line.
    text: str | None = None


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _authorize(action: int, *_: Any) -> int:
    return apsw.SQLITE_OK if action in READ_ACTIONS else apsw.SQLITE_DENY


class TraceStore:
    def __init__(self, data_dir: Path, retention: TraceRetention) -> None:
        self.path = data_dir / TRACES_FOLDER / TRACES_FILE
        self.retention = retention
        self.executor = SerialExecutor(name="traces")
        self._conn: apsw.Connection | None = None
        self._reader: apsw.Connection | None = None
        self._since_prune = 0

    # ---- lifecycle ----

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        try:
            self._connect()
        except apsw.Error as exc:
            reason = damage(exc)
            if reason is None:
                raise
            # The log is no one's data: a damaged one is set aside, and a new one begins.
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            log.warning("request log %s: %s; moved to %s", self.path, reason, aside.name)
            self._close()
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            self._connect()

    def _connect(self) -> None:
        if is_new(self.path):
            # Space freed by pruning goes back to the file system; only a new file can say so.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            first = apsw.Connection(str(self.path), flags=OPEN_FLAGS)
            first.execute("PRAGMA auto_vacuum = INCREMENTAL")
            first.execute("VACUUM")
            first.close()
        conn = open_wal(self.path)
        # Its writes run on the store's own thread: waiting out the other writer (the old
        # shim, for the moment a reload runs two) costs no binding call anything.
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(SCHEMA)
        self._conn = conn
        reader = apsw.Connection(
            str(self.path), flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_NOFOLLOW
        )
        reader.execute("PRAGMA query_only = ON")
        reader.authorizer = _authorize
        self._reader = reader
        self._prune()

    async def close(self) -> None:
        await self.executor.run(self._close)
        self.executor.close()

    def _close(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                conn.close()
        self._conn = self._reader = None

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, "trace store used before open()"
        return self._conn

    # ---- writing ----

    async def add(self, record: InvocationRecord) -> int:
        return await self.executor.run(self._add, record)

    def _add(self, record: InvocationRecord) -> int:
        conn = self.conn
        with conn:
            conn.execute(
                "INSERT INTO invocations (worker, type, started, duration_ms, outcome, status, "
                "method, url, trigger, execution_model, event, spans_dropped) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.worker,
                    record.type,
                    record.started,
                    record.duration_ms,
                    record.outcome,
                    record.status,
                    record.method,
                    record.url,
                    record.trigger,
                    record.execution_model,
                    _json(record.event),
                    record.spans_dropped,
                ),
            )
            invocation = conn.last_insert_rowid()
            conn.executemany(
                "INSERT INTO spans (invocation, name, resource, started, duration_ms, status, "
                "shared, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        invocation,
                        s.name,
                        s.resource,
                        s.started,
                        s.duration_ms,
                        s.status,
                        int(s.shared),
                        _json(s.attributes),
                    )
                    for s in record.spans
                ],
            )
            conn.executemany(
                "INSERT INTO logs (invocation, at, level, message, stack) VALUES (?, ?, ?, ?, ?)",
                [(invocation, r.at, r.level, r.message, r.stack) for r in record.logs],
            )
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._prune()
        return invocation

    async def prune(self) -> None:
        await self.executor.run(self._prune)

    def _prune(self) -> None:
        """Drop invocations past the age bound, then the oldest while over the size bound."""
        self._since_prune = 0
        conn = self.conn
        oldest = time.time() - self.retention.max_age_hours * 3600
        with conn:
            conn.execute("DELETE FROM invocations WHERE started < ?", (oldest,))
        limit = self.retention.max_mb * 1024 * 1024
        while self._used_bytes() > limit:
            with conn:
                conn.execute(
                    "DELETE FROM invocations WHERE id IN "
                    "(SELECT id FROM invocations ORDER BY id LIMIT "
                    "max(1, (SELECT count(*) FROM invocations) / 5))"
                )
            conn.execute("PRAGMA incremental_vacuum").fetchall()
            if not self._count():
                break
        conn.execute("PRAGMA incremental_vacuum").fetchall()
        # The file gives the freed pages back once the WAL holding the change is written in.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _used_bytes(self) -> int:
        ((pages,),) = self.conn.execute("PRAGMA page_count")
        ((free,),) = self.conn.execute("PRAGMA freelist_count")
        ((size,),) = self.conn.execute("PRAGMA page_size")
        return int((pages - free) * size)

    def _count(self) -> int:
        ((count,),) = self.conn.execute("SELECT count(*) FROM invocations")
        return int(count)

    # ---- reading ----

    async def recent(
        self, filters: Filters, limit: int = 100, before: int | None = None, after: int = 0
    ) -> list[InvocationRecord]:
        """The newest invocations that match, newest first (no spans or logs: counts only)."""
        return await self.executor.run(self._recent, filters, limit, before, after)

    def _recent(
        self, filters: Filters, limit: int, before: int | None, after: int
    ) -> list[InvocationRecord]:
        where = ["id > ?"]
        args: list[Any] = [after]
        if before is not None:
            where.append("id < ?")
            args.append(before)
        for column in ("worker", "type", "outcome"):
            value = getattr(filters, column)
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if filters.text:
            pattern = f"%{filters.text}%"
            where.append(
                "(url LIKE ? OR trigger LIKE ? OR id IN "
                "(SELECT invocation FROM logs WHERE message LIKE ?))"
            )
            args += [pattern, pattern, pattern]
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM invocations WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        found = [_invocation(row) for row in rows]
        counts = self._counts([r.id for r in found if r.id is not None])
        for record in found:
            record.event["spans"], record.event["logs"] = counts.get(record.id or 0, (0, 0))
        return found

    def _counts(self, ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        spans = dict(
            self.conn.execute(
                f"SELECT invocation, count(*) FROM spans WHERE invocation IN ({marks}) "
                "GROUP BY invocation",
                ids,
            )
        )
        logs = dict(
            self.conn.execute(
                f"SELECT invocation, count(*) FROM logs WHERE invocation IN ({marks}) "
                "GROUP BY invocation",
                ids,
            )
        )
        return {i: (spans.get(i, 0), logs.get(i, 0)) for i in ids}

    async def get(self, invocation: int) -> InvocationRecord | None:
        return await self.executor.run(self._get, invocation)

    def _get(self, invocation: int) -> InvocationRecord | None:
        rows = list(
            self.conn.execute(f"SELECT {_COLUMNS} FROM invocations WHERE id = ?", (invocation,))
        )
        if not rows:
            return None
        record = _invocation(rows[0])
        record.spans = [
            SpanRecord(
                name=name,
                resource=resource,
                started=started,
                duration_ms=duration,
                status=status,
                shared=bool(shared),
                attributes=orjson.loads(attributes),
            )
            for name, resource, started, duration, status, shared, attributes in self.conn.execute(
                "SELECT name, resource, started, duration_ms, status, shared, attributes "
                "FROM spans WHERE invocation = ? ORDER BY started, id",
                (invocation,),
            )
        ]
        record.logs = [
            LogRecord(at=at, level=level, message=message, stack=stack)
            for at, level, message, stack in self.conn.execute(
                "SELECT at, level, message, stack FROM logs WHERE invocation = ? ORDER BY id",
                (invocation,),
            )
        ]
        return record

    async def workers(self) -> list[str]:
        return await self.executor.run(
            lambda: [w for (w,) in self.conn.execute("SELECT DISTINCT worker FROM invocations")]
        )

    async def query(self, sql: str) -> tuple[list[str], list[list[Any]], bool]:
        """Read-only SQL over invocations, spans and logs: (columns, rows, truncated)."""
        return await self.executor.run(self._query, sql)

    def _query(self, sql: str) -> tuple[list[str], list[list[Any]], bool]:
        reader = self._reader
        assert reader is not None, "trace store used before open()"
        deadline = time.monotonic() + QUERY_SECONDS
        reader.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        try:
            cursor = reader.execute(sql)
            rows: list[list[Any]] = []
            columns: list[str] = []
            for row in cursor:
                if not columns:
                    columns = [column[0] for column in cursor.description]
                if len(rows) == QUERY_ROWS:
                    return columns, rows, True
                rows.append([_cell(value) for value in row])
            if not columns:
                try:
                    columns = [column[0] for column in cursor.description]
                except apsw.ExecutionCompleteError:
                    columns = []
            return columns, rows, False
        except apsw.InterruptError as exc:
            raise QueryError(f"the query ran longer than {QUERY_SECONDS:g} s") from exc
        except apsw.AuthError as exc:
            raise QueryError("only SELECT over invocations, spans and logs is allowed") from exc
        except apsw.Error as exc:
            raise QueryError(str(exc).split(": ", 1)[-1]) from exc
        finally:
            reader.set_progress_handler(None)


_COLUMNS = (
    "id, worker, type, started, duration_ms, outcome, status, method, url, trigger, "
    "execution_model, event, spans_dropped"
)


def _invocation(row: tuple[Any, ...]) -> InvocationRecord:
    (id_, worker, type_, started, duration, outcome, status, method, url, trigger, model) = row[:11]
    return InvocationRecord(
        id=id_,
        worker=worker,
        type=type_,
        started=started,
        ended=started + duration / 1000,
        outcome=outcome,
        status=status,
        method=method,
        url=url,
        trigger=trigger,
        execution_model=model,
        event=orjson.loads(row[11]),
        spans_dropped=row[12],
    )


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return value
