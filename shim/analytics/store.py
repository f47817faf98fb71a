"""Analytics Engine data points on disk (`analytics/engine.sqlite`): one table per dataset
with production's columns (`timestamp`, `index1`, `blob1`..`blob20`, `double1`..`double20`,
`_sample_interval`), and the SQL API answered over them with SQLite, read-only.

Production runs ClickHouse SQL; the usual shapes of it (SELECT, WHERE, GROUP BY, ORDER BY,
LIMIT, `count()`, `sum(_sample_interval)`, `NOW() - INTERVAL '1' DAY`, `intDiv`,
`toStartOfInterval(timestamp, INTERVAL 'n' UNIT)`, a trailing `FORMAT JSON`) are
translated; ClickHouse-only functions beyond those fail with SQLite's error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import apsw

from groundflare.shim.inline_first import InlineFirst
from groundflare.shim.serial import SerialExecutor
from groundflare.shim.snapshot import backup_into, restore_from
from groundflare.shim.space import sqlite_no_space
from groundflare.shim.sqlite import Checkpointer, open_wal

BUSY_TIMEOUT_MS = 5_000
SNAPSHOT_FILE = "engine.sqlite"
MEMBERS = 20
BLOBS = [f"blob{i}" for i in range(1, MEMBERS + 1)]
DOUBLES = [f"double{i}" for i in range(1, MEMBERS + 1)]
COLUMNS = ["timestamp", "index1", *BLOBS, *DOUBLES, "_sample_interval"]
TYPES = {"timestamp": "DateTime", "index1": "String", "_sample_interval": "UInt32"}
TYPES.update({name: "String" for name in BLOBS})
TYPES.update({name: "Float64" for name in DOUBLES})
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
UNITS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800}


class Point(NamedTuple):
    dataset: str
    index1: str
    blobs: list[str | None]
    doubles: list[float]


class QueryError(Exception):
    """SQL the local SQL API cannot answer; the message is SQLite's or ours."""


def _table(dataset: str) -> str:
    return '"' + dataset.replace('"', '""') + '"'


def _schema(dataset: str) -> str:
    columns = ", ".join(
        ["timestamp TEXT NOT NULL", "index1 TEXT NOT NULL DEFAULT ''"]
        + [f"{b} TEXT NOT NULL DEFAULT ''" for b in BLOBS]
        + [f"{d} REAL NOT NULL DEFAULT 0" for d in DOUBLES]
        + ["_sample_interval INTEGER NOT NULL DEFAULT 1"]
    )
    return f"CREATE TABLE IF NOT EXISTS {_table(dataset)} ({columns})"


INTERVAL = r"INTERVAL\s+'?(\d+)'?\s+(SECOND|MINUTE|HOUR|DAY|WEEK)S?\b"


def _seconds(count: str, unit: str) -> int:
    return int(count) * UNITS[unit.upper()]


def translate(sql: str) -> str:
    """The ClickHouse shapes the SQL API is commonly sent, as SQLite reads them."""
    sql = re.sub(r"\s+FORMAT\s+JSON\s*;?\s*$", "", sql.strip(), flags=re.IGNORECASE)
    sql = re.sub(
        rf"NOW\(\)\s*([-+])\s*{INTERVAL}",
        lambda m: f"datetime(now(), '{m.group(1)}{_seconds(m.group(2), m.group(3))} seconds')",
        sql,
        flags=re.IGNORECASE,
    )
    # Elsewhere (toStartOfInterval's argument) an interval is its length in seconds.
    return re.sub(INTERVAL, lambda m: str(_seconds(m.group(1), m.group(2))), sql, flags=re.I)


class AnalyticsStore:
    def __init__(self, path: Path, now: Any) -> None:
        self.path = path
        self._now = now
        self.executor = SerialExecutor(name="analytics")
        self._runner = InlineFirst(self.executor, BUSY_TIMEOUT_MS)
        self._conn: apsw.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        self._tables: set[str] = set()

    async def open(self) -> None:
        await self.executor.run(self._open)

    def _open(self) -> None:
        conn = open_wal(self.path)
        self._runner.attach(conn)
        self._conn = conn
        self._checkpointer = Checkpointer(self.path, conn, self.executor)
        self._tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }

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
        assert self._conn is not None, "analytics used before open()"
        return self._conn

    async def write(self, point: Point) -> None:
        stamp = datetime.fromtimestamp(self._now(), UTC).strftime(TIME_FORMAT)
        await self._runner.run(partial(self._write, point, stamp))

    def _write(self, point: Point, stamp: str) -> None:
        blobs = [b if b is not None else "" for b in point.blobs]
        names = ["timestamp", "index1", *BLOBS[: len(blobs)], *DOUBLES[: len(point.doubles)]]
        values = [stamp, point.index1, *blobs, *point.doubles]
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if point.dataset not in self._tables:
                conn.execute(_schema(point.dataset))
            conn.execute(
                f"INSERT INTO {_table(point.dataset)} ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(values))})",
                values,
            )
            conn.execute("COMMIT")
        except BaseException as exc:
            no_space = sqlite_no_space(exc, conn)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if no_space is not None:
                raise no_space from exc
            raise
        self._tables.add(point.dataset)

    async def query(self, sql: str) -> dict[str, Any]:
        return await self.executor.run(self._query, translate(sql))

    def _reader(self) -> apsw.Connection:
        reader = apsw.Connection(
            f"file:{self.path}?mode=ro",
            flags=apsw.SQLITE_OPEN_URI | apsw.SQLITE_OPEN_READONLY,
        )
        now = self._now

        def now_text(*_: Any) -> Any:
            return datetime.fromtimestamp(now(), UTC).strftime(TIME_FORMAT)

        reader.create_scalar_function("now", now_text, 0)
        reader.create_scalar_function("intDiv", _int_div, 2)
        reader.create_scalar_function("toStartOfInterval", _start_of_interval, 2)
        return reader

    def _query(self, sql: str) -> dict[str, Any]:
        reader = self._reader()
        try:
            cursor = reader.execute(sql)
            try:
                description = cursor.getdescription()
            except apsw.ExecutionCompleteError:
                description = ()
            rows = cursor.fetchall()
        except apsw.Error as exc:
            raise QueryError(str(exc)) from exc
        finally:
            reader.close()
        names = [name for name, _ in description]
        meta = [
            {"name": name, "type": TYPES.get(name, _type_of(rows, i))}
            for i, name in enumerate(names)
        ]
        data = [dict(zip(names, row, strict=True)) for row in rows]
        return {
            "meta": meta,
            "data": data,
            "rows": len(data),
            "rows_before_limit_at_least": len(data),
        }


def _type_of(rows: list[tuple[Any, ...]], column: int) -> str:
    sample = next((row[column] for row in rows if row[column] is not None), None)
    if isinstance(sample, int):
        return "UInt64"
    if isinstance(sample, float):
        return "Float64"
    return "String"


def _int_div(*args: Any) -> Any:
    dividend, divisor = args
    return int(dividend // divisor)


def _start_of_interval(*args: Any) -> Any:
    """toStartOfInterval(timestamp, INTERVAL 'n' UNIT): the timestamp rounded down."""
    stamp, seconds = args
    moment = datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=UTC).timestamp()
    start = moment - moment % seconds
    return datetime.fromtimestamp(start, UTC).strftime(TIME_FORMAT)
