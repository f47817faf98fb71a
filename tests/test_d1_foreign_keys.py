"""Foreign keys as production D1 has them, through real workerd and the v4 API: enforced for
every query, batch and migration; `PRAGMA foreign_keys = OFF` changes nothing (every query is a
transaction, where SQLite ignores it); `PRAGMA defer_foreign_keys = on` defers the checks to the
end of that query's transaction, and no further."""

from __future__ import annotations

import json

import pytest

from tests.d1 import error, ok, rows
from tests.stack import request
from tests.v4 import stack_env

FOREIGN_KEY_FAILED = (
    "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT "
    "(extended: SQLITE_CONSTRAINT_FOREIGNKEY)"
)
PROBE_ID = "00000000-0000-4000-8000-000000000001"


def run(sql, *params):
    return {"op": "run", "sql": sql, "params": list(params)}


def batch(*sqls):
    return {"op": "batch", "statements": [{"sql": sql} for sql in sqls]}


@pytest.fixture
def tables(d1_stack, table):
    parent, child = f"{table}_parent", f"{table}_child"
    ok(d1_stack, run(f"CREATE TABLE {parent} (id INTEGER PRIMARY KEY)"))
    ok(
        d1_stack,
        run(f"CREATE TABLE {child} (id INTEGER PRIMARY KEY, parent INT REFERENCES {parent}(id))"),
    )
    return parent, child


def test_foreign_keys_are_on_and_cannot_be_switched_off(d1_stack, tables):
    _, child = tables
    assert rows(d1_stack, "PRAGMA foreign_keys") == [{"foreign_keys": 1}]
    assert ok(d1_stack, run("PRAGMA foreign_keys = OFF"))["success"] is True
    assert rows(d1_stack, "PRAGMA foreign_keys") == [{"foreign_keys": 1}]
    assert error(d1_stack, run(f"INSERT INTO {child} (parent) VALUES (7)")) == FOREIGN_KEY_FAILED
    # Not within one batch either: it is one transaction.
    off_then_insert = batch("PRAGMA foreign_keys = OFF", f"INSERT INTO {child} (parent) VALUES (7)")
    assert error(d1_stack, off_then_insert) == FOREIGN_KEY_FAILED
    assert rows(d1_stack, f"SELECT * FROM {child}") == []


def test_deferred_foreign_keys_are_checked_when_the_query_ends(d1_stack, tables):
    parent, child = tables
    child_first = batch(
        "PRAGMA defer_foreign_keys = on",
        f"INSERT INTO {child} (id, parent) VALUES (1, 1)",
        f"INSERT INTO {parent} (id) VALUES (1)",
    )
    assert len(ok(d1_stack, child_first)) == 3
    never_fixed = batch(
        "PRAGMA defer_foreign_keys = on", f"INSERT INTO {child} (parent) VALUES (9)"
    )
    assert error(d1_stack, never_fixed) == FOREIGN_KEY_FAILED
    assert rows(d1_stack, f"SELECT id, parent FROM {child}") == [{"id": 1, "parent": 1}]
    # The deferral ended with its transaction.
    ok(d1_stack, run("PRAGMA defer_foreign_keys = on"))
    assert rows(d1_stack, "PRAGMA defer_foreign_keys") == [{"defer_foreign_keys": 0}]
    assert error(d1_stack, run(f"INSERT INTO {child} (parent) VALUES (9)")) == FOREIGN_KEY_FAILED


def test_a_migration_cannot_switch_foreign_keys_off(d1_stack, tables):
    _, child = tables
    env = stack_env(d1_stack.data_dir)
    url = (
        f"{env['CLOUDFLARE_API_BASE_URL']}/accounts/{env['CLOUDFLARE_ACCOUNT_ID']}"
        f"/d1/database/{PROBE_ID}/query"
    )
    migration = f"PRAGMA foreign_keys = OFF;\nINSERT INTO {child} (parent) VALUES (5);"
    status, payload = request(
        url,
        {"sql": migration},
        method="POST",
        headers={"Authorization": f"Bearer {env['CLOUDFLARE_API_TOKEN']}"},
    )
    body = json.loads(payload)
    assert status == 400 and body["success"] is False
    assert "FOREIGN KEY constraint failed" in body["errors"][0]["message"]
    assert rows(d1_stack, f"SELECT * FROM {child}") == []
