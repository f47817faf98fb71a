"""Driving the D1 probe Worker (tests/workers/d1): D1 calls in, what the API returned out."""

from __future__ import annotations

from typing import Any

from tests.stack import RunningStack, post_json

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


def run(stack: RunningStack, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    return post_json(stack.url, list(steps))


def ok(stack: RunningStack, step: dict[str, Any]) -> Any:
    (result,) = run(stack, step)
    assert "ok" in result, result
    return result["ok"]


def error(stack: RunningStack, step: dict[str, Any]) -> str:
    """The message of the error the Worker caught."""
    (result,) = run(stack, step)
    assert "error" in result, result
    return result["error"]["message"]


def rows(stack: RunningStack, sql: str, *params: Any) -> list[dict[str, Any]]:
    return ok(stack, {"op": "all", "sql": sql, "params": list(params)})["results"]


def blob(*values: int) -> dict[str, list[int]]:
    return {"$blob": list(values)}
