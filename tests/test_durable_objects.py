"""Durable Objects from [[migrations]]: storage API and SQL, isolation, persistence, alarms."""

from __future__ import annotations

import json
import time

import pytest

from tests.stack import WORKERS, eventually, request

MAIN = WORKERS / "do-main" / "wrangler.toml"
AUX = WORKERS / "do-aux" / "wrangler.toml"


def get(url: str) -> dict:
    status, body = request(url)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def pair(tmp_data, stacks):
    def start():
        return stacks([MAIN, AUX], tmp_data)

    return start


def test_a_storage_api_counter_persists_across_a_restart(pair, tmp_data):
    first = pair()
    assert [get(first.url + "/kv/alpha/inc")["count"] for _ in range(3)] == [1, 2, 3]
    assert first.stop() == 0
    second = pair()
    assert get(second.url + "/kv/alpha/inc") | {"id": None} == {
        "count": 4,
        "keys": ["count"],
        "id": None,
    }
    storage = tmp_data / "do" / "do-main" / "KvCounter"
    assert len(list(storage.glob("*.sqlite"))) == 2  # the object and workerd's metadata


def test_a_sql_counter_persists_across_a_restart(pair):
    first = pair()
    assert [get(first.url + "/sql/beta/inc")["count"] for _ in range(2)] == [1, 2]
    assert first.stop() == 0
    assert get(pair().url + "/sql/beta/inc") == {"count": 3, "dbSize": True}


def test_two_ids_are_isolated(pair):
    stack = pair()
    one = get(stack.url + "/kv/one/inc")
    two = get(stack.url + "/kv/two/inc")
    assert one["count"] == two["count"] == 1
    assert one["id"] != two["id"]
    assert get(stack.url + "/kv/one/inc")["count"] == 2


def test_an_alarm_set_before_a_restart_fires_after_it(pair):
    first = pair()
    due = int(time.time() * 1000) + 1500
    assert get(first.url + f"/kv/sleeper/alarm?at={due}") == {"alarm": due, "fired": []}
    assert first.stop() == 0
    second = pair()
    state = eventually(
        lambda: (s := get(second.url + "/kv/sleeper/alarm"))["fired"] and s, what="the alarm"
    )
    assert state["alarm"] is None
    assert len(state["fired"]) == 1 and state["fired"][0] >= due


def test_a_durable_object_of_another_worker_answers_through_script_name(pair):
    stack = pair()
    aux = stack.ready["workers"]["do-aux"]
    assert get(aux + "/remote")["count"] == 1
    assert get(stack.url + "/kv/shared/inc")["count"] == 2


def test_a_class_without_sqlite_storage_has_no_sql_api(tmp_path, tmp_data, stacks):
    worker = tmp_path / "w.js"
    worker.write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Legacy extends DurableObject {\n"
        "  fetch() { try { this.ctx.storage.sql.exec('SELECT 1'); return new Response('sql'); }\n"
        "    catch (e) { return new Response(e.message); } }\n}\n"
        "export default { fetch(req, env) {\n"
        "  return env.LEGACY.get(env.LEGACY.idFromName('x')).fetch(req); } };\n"
    )
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "legacy"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n'
        '[[durable_objects.bindings]]\nname = "LEGACY"\nclass_name = "Legacy"\n'
        '[[migrations]]\ntag = "v1"\nnew_classes = ["Legacy"]\n'
    )
    stack = stacks([config], tmp_data)
    status, body = request(stack.url)
    assert status == 200
    assert "SQL is not enabled" in body.decode()


def test_a_renamed_class_keeps_its_objects(tmp_path, tmp_data, stacks):
    source = (
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class NAME extends DurableObject {\n"
        "  async fetch() { const n = ((await this.ctx.storage.get('n')) ?? 0) + 1;\n"
        "    await this.ctx.storage.put('n', n); return new Response(String(n)); } }\n"
        "export default { fetch(req, env) {\n"
        "  return env.OBJ.get(env.OBJ.idFromName('x')).fetch(req); } };\n"
    )
    (tmp_path / "w.js").write_text(source.replace("NAME", "Before"))
    config = tmp_path / "wrangler.toml"
    base = 'name = "renamer"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n'
    v1 = '[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["Before"]\n'
    config.write_text(
        base + '[[durable_objects.bindings]]\nname = "OBJ"\nclass_name = "Before"\n' + v1
    )
    first = stacks([config], tmp_data)
    assert request(first.url)[1] == b"1"
    assert first.stop() == 0
    (tmp_path / "w.js").write_text(source.replace("NAME", "After"))
    config.write_text(
        base
        + '[[durable_objects.bindings]]\nname = "OBJ"\nclass_name = "After"\n'
        + v1
        + '[[migrations]]\ntag = "v2"\nrenamed_classes = [{from = "Before", to = "After"}]\n'
    )
    assert request(stacks([config], tmp_data).url)[1] == b"2"


LIMITS = WORKERS / "do-limits" / "wrangler.toml"


@pytest.mark.xfail(
    strict=True,
    reason=(
        "not enforced: workerd keeps Durable Object storage in its own SQLite (localDisk), and "
        "the pinned 1.20261201.1 caps no value there (a 4 MiB one is stored); its 128 KiB check "
        "runs only for in-memory storage, and no config or flag sets either limit"
    ),
)
@pytest.mark.parametrize(
    ("kind", "size", "name", "message"),
    [
        # SQLite-backed classes: values up to 2 MB (Cloudflare's limits page), SQLite's error.
        ("sql", 3 * 1024 * 1024, "Error", "string or blob too big: SQLITE_TOOBIG"),
        # Key-value-backed classes: 128 KiB of serialized value, a RangeError.
        ("kv", 200_000, "RangeError", "Values cannot be larger than 131072 bytes."),
    ],
)
def test_a_value_over_productions_limit_is_refused(tmp_data, stacks, kind, size, name, message):
    stack = stacks([LIMITS], tmp_data)
    answer = json.loads(request(f"{stack.url}/{kind}/{size}", method="PUT")[1])
    assert answer["stored"] is False
    assert answer["name"] == name and answer["message"].startswith(message)
