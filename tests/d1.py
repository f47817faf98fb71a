"""Driving the D1 probe Worker (tests/workers/d1): D1 calls in, what the API returned out."""

from __future__ import annotations

from typing import Any

from tests.stack import RunningStack, run_steps, step_error, step_ok

META_KEYS = {
    "served_by",
    "served_by_region",
    "served_by_primary",
    "timings",
    "duration",
    "changes",
    "last_row_id",
    "changed_db",
    "size_after",
    "rows_read",
    "rows_written",
    "total_attempts",
}


run = run_steps
ok = step_ok
error = step_error


def rows(stack: RunningStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return ok(stack, {"op": "all", "sql": sql, "params": list(params)})["results"]


def blob(*values: int) -> dict[str, list[int]]:
    return {"$blob": list(values)}
