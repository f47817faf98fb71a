"""`env.DB` from Python: the Worker's D1 binding, run through the door (bindings.js)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from groundflare.bindings.channel import (
    ACCOUNT,
    SQL_ERROR_CODE,
    ApiRefusal,
    BindingError,
    Channel,
    StackError,
)
from groundflare.contracts.d1_migrations import DEFAULT_TABLE, migration_files, tracking_table_sql

Statement = str | tuple[str, Sequence[Any]]


class D1Database:
    def __init__(
        self, channel: Channel, worker: str, name: str, database_id: str | None = None
    ) -> None:
        self._channel = channel
        self.worker = worker
        self.name = name
        # The v4 API's id of the database behind the binding (files run through its query).
        self.database_id = database_id

    def _prepare(self, sql: str, params: Sequence[Any], method: str, **extra: Any) -> Any:
        args = {"sql": sql, "params": list(params), "method": method, **extra}
        return self._channel.call(self.worker, self.name, "d1.prepare", args)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        """`prepare(sql).bind(...params).all()`: `{"success", "meta", "results"}`."""
        result: dict[str, Any] = self._prepare(sql, params, "all")
        return result

    def all(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        return self.execute(sql, params)

    def run(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        result: dict[str, Any] = self._prepare(sql, params, "run")
        return result

    def first(self, sql: str, params: Sequence[Any] = (), column: str | None = None) -> Any:
        """The first row (or one column of it), None when there is none."""
        extra = {} if column is None else {"column": column}
        return self._prepare(sql, params, "first", **extra)

    def raw(
        self, sql: str, params: Sequence[Any] = (), column_names: bool = False
    ) -> list[list[Any]]:
        rows: list[list[Any]] = self._prepare(sql, params, "raw", columnNames=column_names)
        return rows

    def batch(self, statements: Iterable[Statement]) -> list[dict[str, Any]]:
        """`db.batch([...])`: one transaction; a failing statement rolls back them all."""
        prepared = [
            {"sql": s, "params": []} if isinstance(s, str) else {"sql": s[0], "params": list(s[1])}
            for s in statements
        ]
        results: list[dict[str, Any]] = self._channel.call(
            self.worker, self.name, "d1.batch", {"statements": prepared}
        )
        return results

    def exec(self, sql: str) -> dict[str, Any]:
        """`db.exec(sql)`: several statements, no parameters: `{"count", "duration"}`."""
        result: dict[str, Any] = self._channel.call(self.worker, self.name, "d1.exec", {"sql": sql})
        return result

    def execute_file(self, path: Path) -> list[dict[str, Any]]:
        """A .sql file (a seed, a migration) as `wrangler d1 execute --file` runs it: split
        into statements, comments and blank lines left out, all in one transaction; one D1
        answer per statement. A failing statement rolls the whole file back."""
        if self.database_id is None:
            raise StackError(f"the database behind {self.name!r} is not served by this stack")
        path_v4 = f"/accounts/{ACCOUNT}/d1/database/{self.database_id}/query"
        try:
            results: list[dict[str, Any]] = self._channel.v4(
                "POST", path_v4, {"sql": Path(path).read_text(encoding="utf-8")}
            )
        except ApiRefusal as refusal:
            if refusal.code == SQL_ERROR_CODE:
                raise BindingError("Error", refusal.message) from None
            raise
        return results

    def migrate(self, folder: Path, table: str = DEFAULT_TABLE) -> list[str]:
        """Apply the folder's `*.sql` files not applied yet, in name order, as `wrangler d1
        migrations apply` does (each file as execute_file runs it, then recorded in wrangler's
        tracking table `id, name, applied_at`); the names applied now."""
        self.run(tracking_table_sql(table))
        done = {row[0] for row in self.raw(f"SELECT name FROM {table}")}
        applied = []
        for name in migration_files(Path(folder)):
            if name in done:
                continue
            self.execute_file(Path(folder) / name)
            self.run(f"INSERT INTO {table} (name) VALUES (?)", [name])
            applied.append(name)
        return applied
