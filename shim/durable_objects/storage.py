"""Durable Objects on disk, as workerd keeps them (`localDisk`): `do/<worker>/<unique key>/`
holds one SQLite file per object (`<id>.sqlite`) and `metadata.sqlite` with the alarms.

Reading opens an object's file read-only beside workerd; an object without a file (it has
never run) reads as an empty database. Writing first aborts every Durable Object instance
through the door (as snapshots do), so no instance holds the file or a stale picture of it;
the next call to the object starts it again from the file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from groundflare.contracts.durable_objects import namespace_id
from groundflare.shim.d1.errors import from_sqlite

METADATA_FILE = "metadata.sqlite"
MAX_ROWS = 10_000
QUERY_SECONDS = 5.0
NS_PER_MS = 1_000_000
# What an object that has never run reads as.
EMPTY_DATABASE = ":memory:"


class StorageError(Exception):
    """SQLite refused the statement; the message is SQLite's."""


@dataclass(frozen=True)
class Namespace:
    id: str
    worker: str
    class_name: str
    folder: Path

    def describe(self) -> dict[str, Any]:
        """Production's namespace object (`GET .../durable_objects/namespaces`)."""
        return {
            "id": self.id,
            "name": f"{self.worker}_{self.class_name}",
            "script": self.worker,
            "class": self.class_name,
            "use_sqlite": True,
        }

    def objects(self) -> list[str]:
        return sorted(
            path.stem
            for path in self.folder.glob("*.sqlite")
            if path.name != METADATA_FILE and _is_object_id(path.stem)
        )

    def object_file(self, object_id: str) -> Path | None:
        """Where the object's storage is or will be (workerd creates the file when the
        object first runs); None for an id that names no object."""
        if not _is_object_id(object_id):
            return None
        return self.folder / f"{object_id}.sqlite"

    def alarms(self) -> dict[str, int]:
        """Each object's next alarm, in milliseconds since the epoch."""
        path = self.folder / METADATA_FILE
        if not path.is_file():
            return {}
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            rows = conn.execute("SELECT actor_id, scheduled_time FROM _cf_ALARM").fetchall()
        except apsw.SQLError:
            rows = []
        finally:
            conn.close()
        # workerd's alarm scheduler keeps kj::Date: nanoseconds since the epoch.
        return {str(actor): int(when) // NS_PER_MS for actor, when in rows if when is not None}


def _is_object_id(text: str) -> bool:
    return 0 < len(text) <= 128 and all(c in "0123456789abcdef" for c in text)


def namespaces(do_dir: Path) -> list[Namespace]:
    found: list[Namespace] = []
    if not do_dir.is_dir():
        return found
    for worker in sorted(p for p in do_dir.iterdir() if p.is_dir()):
        for folder in sorted(p for p in worker.iterdir() if p.is_dir()):
            found.append(
                Namespace(namespace_id(worker.name, folder.name), worker.name, folder.name, folder)
            )
    return found


def run_sql(path: Path | None, sql: str, params: list[Any], write: bool) -> list[dict[str, Any]]:
    """Every statement of `sql` (params bind to the last), as D1's `query` answers them;
    on an empty read-only database when `path` is None. Errors are worded as D1's."""
    flags = apsw.SQLITE_OPEN_READWRITE if write else apsw.SQLITE_OPEN_READONLY
    location = EMPTY_DATABASE if path is None else str(path)
    conn = apsw.Connection(location, flags=flags | apsw.SQLITE_OPEN_NOFOLLOW)
    conn.set_busy_timeout(5_000)
    deadline = time.monotonic() + QUERY_SECONDS
    conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    results: list[dict[str, Any]] = []
    try:
        with conn:
            for text, bound in _statements(sql, params):
                results.append(_one(conn, text, bound))
    except apsw.Error as exc:
        raise StorageError(from_sqlite(exc).message) from exc
    finally:
        conn.close()
    return results


def _statements(sql: str, params: list[Any]) -> list[tuple[str, list[Any]]]:
    parts = [s for s in _split(sql) if s.strip(" ;\n\t")]
    return [(text, params if i == len(parts) - 1 else []) for i, text in enumerate(parts)]


def _split(sql: str) -> list[str]:
    """Statements of `sql`, split where SQLite says each one is complete."""
    parts: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current += piece + ";"
        if apsw.complete(current):
            parts.append(current)
            current = ""
    if current.strip(" ;\n\t"):
        parts.append(current)
    return parts


def _one(conn: apsw.Connection, sql: str, params: list[Any]) -> dict[str, Any]:
    started = time.perf_counter()
    before = conn.total_changes()
    cursor = conn.execute(sql, params)
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    for row in cursor:
        if not names:
            names = [column[0] for column in cursor.description]
        if len(rows) < MAX_ROWS:
            rows.append({name: _cell(value) for name, value in zip(names, row, strict=True)})
    changes = conn.total_changes() - before
    return {
        "success": True,
        "results": rows,
        "meta": {
            "duration": round((time.perf_counter() - started) * 1000, 3),
            "rows_read": len(rows),
            "rows_written": changes,
            "changes": changes,
            "last_row_id": conn.last_insert_rowid(),
        },
    }


def _cell(value: Any) -> Any:
    return list(value) if isinstance(value, bytes) else value
