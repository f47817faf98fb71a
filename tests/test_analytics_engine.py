"""Workers Analytics Engine: writeDataPoint keeps each point (with workerd's limits and
TypeErrors), and the SQL API answers over what was written, in production's JSON shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, eventually, post_json, request
from tests.v4 import stack_env

PROBE = WORKERS / "analytics" / "wrangler.toml"


def write(stack: RunningStack, binding: str, *points: dict[str, Any]) -> Any:
    return post_json(stack.url, {"binding": binding, "points": list(points)})


def sql(stack: RunningStack, query: str) -> tuple[int, Any]:
    env = stack_env(stack.data_dir)
    url = f"{env['CLOUDFLARE_API_BASE_URL']}/accounts/{env['CLOUDFLARE_ACCOUNT_ID']}"
    status, body = request(
        f"{url}/analytics_engine/sql",
        query.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {env['CLOUDFLARE_API_TOKEN']}"},
    )
    return status, json.loads(body) if status == 200 else body.decode()


def rows(stack: RunningStack, query: str, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        # writeDataPoint() returns before the point is stored, as in production.
        status, answer = sql(stack, query)
        if status == 422 and "no such table" in answer:
            return None
        assert status == 200, answer
        return answer["data"] if answer["rows"] >= count else None

    return eventually(enough, what=f"{count} rows")


@pytest.fixture
def stack(tmp_data, stacks) -> RunningStack:
    return stacks([PROBE], tmp_data)


def test_written_points_are_answered_by_the_sql_api(stack):
    point = {"indexes": ["user-1"], "blobs": ["GET", "/home"], "doubles": [200, 12.5]}
    assert write(stack, "REQUESTS", point, {**point, "blobs": ["POST", "/login"]}) == {"ok": None}
    (row,) = rows(
        stack,
        "SELECT blob1, blob2, double1, double2, index1 FROM requests "
        "WHERE blob1 = 'GET' FORMAT JSON",
        1,
    )
    assert row == {
        "blob1": "GET",
        "blob2": "/home",
        "double1": 200.0,
        "double2": 12.5,
        "index1": "user-1",
    }
    status, answer = sql(
        stack, "SELECT blob1, count() AS n FROM requests GROUP BY blob1 ORDER BY blob1"
    )
    assert status == 200, answer
    assert answer["meta"] == [{"name": "blob1", "type": "String"}, {"name": "n", "type": "UInt64"}]
    assert answer["data"] == [{"blob1": "GET", "n": 1}, {"blob1": "POST", "n": 1}]


def test_a_dataset_defaults_to_the_binding_name_and_unset_fields_to_empty(stack):
    write(stack, "EVENTS", {"blobs": ["signup"]})
    (row,) = rows(stack, "SELECT blob1, blob2, double1, _sample_interval FROM EVENTS", 1)
    assert row == {"blob1": "signup", "blob2": "", "double1": 0.0, "_sample_interval": 1}


def test_time_filters_read_clickhouse_intervals(stack):
    write(stack, "REQUESTS", {"blobs": ["recent"]})
    query = "SELECT blob1 FROM requests WHERE timestamp > NOW() - INTERVAL '1' DAY"
    assert rows(stack, query, 1) == [{"blob1": "recent"}]


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({"blobs": ["x"] * 21}, "writeDataPoint(): Maximum of 20 blobs supported."),
        ({"doubles": [1] * 21}, "writeDataPoint(): Maximum of 20 doubles supported."),
        ({"indexes": ["a", "b"]}, "writeDataPoint(): Maximum of 1 indexes supported."),
        ({"indexes": ["x" * 97]}, "writeDataPoint(): Size of indexes[0] exceeds 96 bytes)."),
        (
            {"blobs": ["x" * 5000, "y" * 200]},
            "writeDataPoint(): Cumulative size of blobs exceeds 5120 bytes).",
        ),
    ],
    ids=["blobs", "doubles", "indexes", "index-size", "blob-bytes"],
)
def test_a_point_over_workerds_limits_throws_its_type_error(stack, point, message):
    assert write(stack, "REQUESTS", point) == {"error": {"name": "TypeError", "message": message}}


def test_points_survive_a_restart(tmp_data, stacks):
    first = stacks([PROBE], tmp_data)
    write(first, "REQUESTS", {"blobs": ["kept"]})
    rows(first, "SELECT blob1 FROM requests", 1)
    assert first.stop() == 0
    second = stacks([PROBE], tmp_data)
    assert rows(second, "SELECT blob1 FROM requests", 1) == [{"blob1": "kept"}]


def test_sql_a_query_cannot_change_anything(stack):
    write(stack, "REQUESTS", {"blobs": ["x"]})
    rows(stack, "SELECT blob1 FROM requests", 1)
    status, answer = sql(stack, "DELETE FROM requests")
    assert status == 422
    assert "readonly" in answer
