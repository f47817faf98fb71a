"""The data dir's list of resources: every D1 database, KV namespace and R2 bucket it holds.

wrangler.toml's bindings enter it when the shim first serves them; the v4 API and the
data CLI add, rename and remove the others. The shim serves everything listed here, so a
resource created through the API survives restarts and a binding can name it by id.
One small SQLite file (`catalogue.sqlite`, WAL): a write is durable once it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import apsw

from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.sqlite import open_wal

CATALOGUE_FILE = "catalogue.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,  -- ISO 8601, UTC
    PRIMARY KEY (kind, id)
);
"""


@dataclass(frozen=True)
class Entry:
    spec: ResourceSpec
    created_at: str


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Catalogue:
    """Calls are quick single-row statements; callers keep them off the event loop's hot
    paths (they happen on create, rename and delete only)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / CATALOGUE_FILE
        self._conn: apsw.Connection | None = None

    def open(self) -> None:
        conn = open_wal(self.path)
        conn.set_busy_timeout(5_000)
        conn.execute(SCHEMA)
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> apsw.Connection:
        assert self._conn is not None, "catalogue used before open()"
        return self._conn

    def entries(self) -> list[Entry]:
        rows = self.conn.execute("SELECT kind, id, name, created_at FROM resources ORDER BY rowid")
        return [Entry(ResourceSpec(kind=k, id=i, name=n), at) for k, i, n, at in rows]

    def find(self, kind: str, resource_id: str) -> Entry | None:
        rows = list(
            self.conn.execute(
                "SELECT name, created_at FROM resources WHERE kind = ? AND id = ?",
                (kind, resource_id),
            )
        )
        if not rows:
            return None
        name, at = rows[0]
        return Entry(ResourceSpec(kind=kind, id=resource_id, name=name), at)

    def add(self, spec: ResourceSpec) -> Entry:
        """Record `spec` unless its (kind, id) is known; the recorded entry either way."""
        self.conn.execute(
            "INSERT INTO resources (kind, id, name, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO NOTHING",
            (spec.kind, spec.id, spec.name, now_iso()),
        )
        found = self.find(spec.kind, spec.id)
        assert found is not None
        return found

    def rename(self, kind: str, resource_id: str, name: str) -> None:
        self.conn.execute(
            "UPDATE resources SET name = ? WHERE kind = ? AND id = ?", (name, kind, resource_id)
        )

    def remove(self, kind: str, resource_id: str) -> None:
        self.conn.execute("DELETE FROM resources WHERE kind = ? AND id = ?", (kind, resource_id))
