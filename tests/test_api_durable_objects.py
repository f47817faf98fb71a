"""Durable Objects through the v4 API on a real `groundflare serve`: namespaces and objects
listed as production lists them, and SQL against a SQLite-backed object's storage,
read-only unless the request asks to write (then the object sees the change)."""

from __future__ import annotations

import json

from tests.stack import WORKERS, request
from tests.test_api_v4 import V4, error

DO_MAIN = WORKERS / "do-main" / "wrangler.toml"
DO_AUX = WORKERS / "do-aux" / "wrangler.toml"


def test_an_objects_sql_storage_is_listed_read_and_written_only_when_asked(tmp_data, stacks):
    stack = stacks([DO_MAIN, DO_AUX], tmp_data)
    for _ in range(2):
        status, body = request(stack.url + "/sql/alpha/inc")
        assert status == 200, body
    v4 = V4(tmp_data)
    status, listed = v4("GET", "/workers/durable_objects/namespaces")
    assert status == 200
    (namespace,) = [n for n in listed["result"] if n["class"] == "SqlCounter"]
    assert (namespace["name"], namespace["script"]) == ("do-main_SqlCounter", "do-main")
    objects = v4("GET", f"/workers/durable_objects/namespaces/{namespace['id']}/objects")[1]
    (found,) = objects["result"]
    where = f"/workers/durable_objects/namespaces/{namespace['id']}/objects/{found['id']}/query"
    (counted,) = v4("POST", where, {"sql": "SELECT count(*) AS n FROM hits"})[1]["result"]
    assert counted["results"] == [{"n": 2}]
    insert = {"sql": "INSERT INTO hits (at) VALUES ('from the api')"}
    status, code, _ = error(v4("POST", where, insert))
    assert (status, code) == (400, 7500)
    assert v4("POST", where, {**insert, "write": True})[0] == 200
    status, body = request(stack.url + "/sql/alpha/inc")
    assert json.loads(body)["count"] == 4


def test_an_objects_alarm_is_listed_in_milliseconds_as_it_was_set(tmp_data, stacks):
    stack = stacks([DO_MAIN, DO_AUX], tmp_data)
    at = 4_102_444_800_000  # 2100-01-01, never reached by the test
    status, body = request(stack.url + f"/kv/alarmed/alarm?at={at}")
    assert (status, json.loads(body)["alarm"]) == (200, at)
    v4 = V4(tmp_data)
    listed = v4("GET", "/workers/durable_objects/namespaces")[1]["result"]
    (namespace,) = [n for n in listed if n["class"] == "KvCounter"]
    objects = f"/workers/durable_objects/namespaces/{namespace['id']}/objects"
    (found,) = v4("GET", objects)[1]["result"]
    assert found["alarm"] == at
    assert v4("GET", f"{objects}/{found['id']}/alarm")[1]["result"] == {"scheduled_time": at}
