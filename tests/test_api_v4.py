"""The v4 API's own rules, with plain HTTP against a real `groundflare serve`: the token,
Cloudflare's envelope and error codes for bad input, resources created at runtime that a
binding then names by id, and writes that survive kill -9 once acknowledged."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, component_pid, request, restarted, start_stack
from tests.v4 import D1_PROBE_ID, KV_PROBE_ID, PROBES, R2_PROBE_BUCKET, probe_ok, stack_env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(PROBES, tmp_path_factory.mktemp("v4") / "data")
    yield running
    assert running.stop() == 0


class V4:
    def __init__(self, data_dir: Path) -> None:
        env = stack_env(data_dir)
        self.base = f"{env['CLOUDFLARE_API_BASE_URL']}/accounts/{env['CLOUDFLARE_ACCOUNT_ID']}"
        self.token = env["CLOUDFLARE_API_TOKEN"]

    def __call__(
        self, method: str, path: str, body: Any = None, token: str | None = None, raw: bool = False
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        if token == "":
            headers = {}
        status, payload = request(self.base + path, body, method=method, headers=headers)
        return status, payload if raw else json.loads(payload)


@pytest.fixture(scope="module")
def v4(stack: RunningStack) -> V4:
    return V4(stack.data_dir)


def error(answer: tuple[int, Any]) -> tuple[int, int, str]:
    status, body = answer
    assert body["success"] is False and body["result"] is None, body
    (first,) = body["errors"]
    return status, first["code"], first["message"]


def test_a_missing_token_is_401_and_a_wrong_one_403_in_the_v4_shape(v4):
    assert error(v4("GET", "/d1/database", token="")) == (401, 10000, "Authentication error")
    assert error(v4("GET", "/d1/database", token="wrong")) == (403, 10000, "Authentication error")


def test_unknown_paths_and_methods_are_cloudflares_errors(v4):
    status, code, message = error(v4("GET", "/no/such/thing"))
    assert (status, code) == (404, 7003)
    assert "Could not route to /client/v4/accounts/" in message
    assert error(v4("PATCH", "/storage/kv/namespaces"))[:2] == (405, 10000)


def test_bad_input_is_an_error_with_a_message_never_a_traceback(v4):
    status, code, message = error(v4("POST", "/d1/database", b"{not json"))
    assert (status, code) == (400, 10001) and message.startswith("Invalid request")
    assert error(v4("POST", "/d1/database", {"name": "bad name!"}))[:2] == (400, 10001)
    assert error(v4("GET", "/d1/database/nope")) == (
        404,
        7404,
        "The database nope could not be found",
    )
    assert error(v4("POST", f"/d1/database/{D1_PROBE_ID}/query", {"sql": "SELEC 1"})) == (
        400,
        7500,
        'near "SELEC": syntax error at offset 0: SQLITE_ERROR',
    )
    assert error(v4("GET", f"/storage/kv/namespaces/{KV_PROBE_ID}/values/absent")) == (
        404,
        10009,
        "get: 'key not found'",
    )
    big = b"x" * (25 * 1024 * 1024 + 1)
    status, code, message = error(
        v4("PUT", f"/storage/kv/namespaces/{KV_PROBE_ID}/values/big", big)
    )
    assert (status, message) == (413, f"Value length of {len(big)} exceeds limit of 26214400.")
    assert error(v4("GET", "/r2/buckets/absent-bucket")) == (
        404,
        10006,
        "The specified bucket does not exist.",
    )
    assert error(v4("GET", f"/d1/database/{D1_PROBE_ID}/time_travel/bookmark"))[:2] == (400, 7500)


def test_a_name_in_use_is_refused_as_production_refuses_it(v4):
    assert v4("POST", "/d1/database", {"name": "twice"})[0] == 200
    assert error(v4("POST", "/d1/database", {"name": "twice"})) == (
        400,
        7502,
        "A database with that name already exists",
    )
    assert v4("POST", "/storage/kv/namespaces", {"title": "twice"})[0] == 200
    assert error(v4("POST", "/storage/kv/namespaces", {"title": "twice"}))[:2] == (400, 10014)


def test_a_resource_a_worker_binds_cannot_be_deleted_under_it(v4, stack):
    status, code, message = error(v4("DELETE", f"/d1/database/{D1_PROBE_ID}"))
    assert (status, code) == (409, 10000) and "bound by a Worker" in message
    assert probe_ok(stack, "d1-probe", {"op": "all", "sql": "SELECT 1 AS one"})["results"]


BOUND_BY_ID = """
name = "d1-probe"
main = "{main}"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "another-name"
database_id = "{uuid}"
"""


def test_a_binding_names_a_database_created_through_the_api_by_id(tmp_path, stacks):
    first = stacks(PROBES, tmp_path / "data")
    v4 = V4(first.data_dir)
    status, created = v4("POST", "/d1/database", {"name": "made-at-runtime"})
    assert status == 200
    uuid = created["result"]["uuid"]
    sql = {"sql": "CREATE TABLE t (v); INSERT INTO t VALUES ('from the api')"}
    assert v4("POST", f"/d1/database/{uuid}/query", sql)[0] == 200
    assert first.stop() == 0
    config = tmp_path / "bound.toml"
    config.write_text(BOUND_BY_ID.format(main=WORKERS / "d1" / "worker.js", uuid=uuid))
    second = stacks([config], tmp_path / "data")
    seen = probe_ok(second, "d1-probe", {"op": "all", "sql": "SELECT v FROM t"})
    assert seen["results"] == [{"v": "from the api"}]
    listed = V4(second.data_dir)("GET", "/d1/database")[1]["result"]
    assert {db["name"] for db in listed} >= {"made-at-runtime", "probe"}


def test_writes_the_api_acknowledged_survive_kill_9_of_the_shim(tmp_path, stacks):
    stack = stacks(PROBES, tmp_path / "data")
    v4 = V4(stack.data_dir)
    sql = {"sql": "CREATE TABLE kept (v); INSERT INTO kept VALUES ('acked')"}
    assert v4("POST", f"/d1/database/{D1_PROBE_ID}/query", sql)[0] == 200
    path = f"/storage/kv/namespaces/{KV_PROBE_ID}/values/kept"
    assert v4("PUT", path, b"acked value")[0] == 200
    assert v4("PUT", f"/r2/buckets/{R2_PROBE_BUCKET}/objects/kept", b"acked object")[0] == 200
    status, created = v4("POST", "/storage/kv/namespaces", {"title": "made-before-the-kill"})
    assert status == 200
    shim = component_pid(stack.data_dir, "shim")
    os.kill(shim, signal.SIGKILL)
    restarted(stack.data_dir, "shim", shim)
    assert probe_ok(stack, "d1-probe", {"op": "all", "sql": "SELECT v FROM kept"})["results"] == [
        {"v": "acked"}
    ]
    assert v4("GET", path, raw=True) == (200, b"acked value")
    assert probe_ok(stack, "r2-probe", {"op": "get", "key": "kept"})["body"] == "acked object"
    titles = {ns["title"] for ns in v4("GET", "/storage/kv/namespaces")[1]["result"]}
    assert "made-before-the-kill" in titles
    assert v4("GET", f"/storage/kv/namespaces/{created['result']['id']}")[0] == 200
