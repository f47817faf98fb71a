"""Legacy HTTP D1 endpoints (/query, /batch, /exec) reached by an adapter Worker.

The adapter talks through the `D1_SHIM` service binding and `D1_HTTP_URL` var that
tests/workers/d1-legacy/groundflare.toml declares next to its wrangler.toml.
"""

from __future__ import annotations

import json

import pytest

from tests.stack import WORKERS, post_json, start_stack


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    stack = start_stack(
        [WORKERS / "d1-legacy" / "wrangler.toml"], tmp_path_factory.mktemp("legacy") / "data"
    )
    yield stack
    assert stack.stop() == 0


def step(stack, **request):
    (result,) = post_json(stack.url, [request])
    return result


def ok(stack, **request):
    result = step(stack, **request)
    assert "ok" in result, result
    return result["ok"]


def test_query_returns_results_success_and_meta(legacy, table):
    ok(legacy, op="exec", sql=f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v)")
    result = ok(
        legacy, op="query", sql=f"INSERT INTO {table} (v) VALUES (?) RETURNING id", params=[1]
    )
    assert result["success"] is True
    assert result["results"] == [{"id": 1}]
    assert result["meta"]["changes"] == 1
    assert result["meta"]["last_row_id"] == 1


@pytest.mark.parametrize(
    ("value", "expected", "sql_type"),
    [
        (None, None, "null"),
        (1.25, 1.25, "real"),
        (42, 42, "integer"),
        (9007199254740993, 9007199254740992, "integer"),
        ("héllo ✓ 🚀", "héllo ✓ 🚀", "text"),
        ("", "", "text"),
        ({"$blob": [0, 1, 254, 255]}, [0, 1, 254, 255], "blob"),
        ({"$blob": []}, [], "blob"),
    ],
)
def test_values_round_trip_through_a_table(legacy, table, value, expected, sql_type):
    ok(legacy, op="exec", sql=f"CREATE TABLE {table} (v)")
    ok(legacy, op="query", sql=f"INSERT INTO {table} VALUES (?)", params=[value])
    result = ok(legacy, op="query", sql=f"SELECT v, typeof(v) AS t FROM {table}")
    assert result["results"] == [{"v": expected, "t": sql_type}]


def test_batch_is_one_transaction(legacy, table):
    ok(legacy, op="exec", sql=f"CREATE TABLE {table} (v UNIQUE)")
    results = ok(
        legacy,
        op="batch",
        statements=[
            {"sql": f"INSERT INTO {table} VALUES (?)", "params": [1]},
            {"sql": f"SELECT count(*) AS n FROM {table}"},
        ],
    )
    assert [r["results"] for r in results] == [[], [{"n": 1}]]
    failed = step(
        legacy,
        op="batch",
        statements=[
            {"sql": f"INSERT INTO {table} VALUES (?)", "params": [2]},
            {"sql": f"INSERT INTO {table} VALUES (?)", "params": [1]},
        ],
    )
    assert failed == {
        "error": {
            "message": (
                f"400: UNIQUE constraint failed: {table}.v: SQLITE_CONSTRAINT "
                "(extended: SQLITE_CONSTRAINT_UNIQUE)"
            )
        }
    }
    remaining = ok(legacy, op="query", sql=f"SELECT v FROM {table} ORDER BY v")
    assert remaining["results"] == [{"v": 1}]


def test_exec_counts_statements(legacy, table):
    result = ok(
        legacy,
        op="exec",
        sql=(
            f"CREATE TABLE {table} (v);\nINSERT INTO {table} VALUES (1);\n"
            f"CREATE TRIGGER {table}_t AFTER INSERT ON {table} BEGIN SELECT 1; END;\n"
            "-- a script may end with a comment (not a binding query: docs/d1.md)"
        ),
    )
    assert result["count"] == 3
    assert isinstance(result["duration"], float)


def test_errors_are_json_with_a_message(legacy):
    assert step(legacy, op="query", sql="SELECT * FROM nowhere") == {
        "error": {"message": "400: no such table: nowhere: SQLITE_ERROR"}
    }
    raw = ok(legacy, op="raw", path="/query", body="{not json")
    assert raw["status"] == 400
    assert json.loads(raw["body"])["error"].startswith("Invalid request body: ")
    raw = ok(legacy, op="raw", path="/elsewhere", body="{}")
    assert raw["status"] == 404


def test_the_adapter_and_the_d1_binding_share_one_database(legacy, table):
    ok(legacy, op="exec", sql=f"CREATE TABLE {table} (v); INSERT INTO {table} VALUES ('shared')")
    through_binding = ok(legacy, op="binding", sql=f"SELECT v FROM {table}")
    assert through_binding["results"] == [{"v": "shared"}]
