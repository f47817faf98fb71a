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
