"""Bindings from Python (groundflare.bindings) give what the Worker's own code gets: the same
values, the same errors with the same texts, checked against the probe Workers running the
same calls inside workerd."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from groundflare.bindings import BindingError, StackError, connect
from tests.stack import WORKERS, post_json, start_stack

D1_PROBE = WORKERS / "d1" / "wrangler.toml"
KV_PROBE = WORKERS / "kv" / "wrangler.toml"
DO_PROBE = WORKERS / "plugin" / "wrangler.toml"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    stack = start_stack(
        [D1_PROBE, KV_PROBE, DO_PROBE],
        tmp_path_factory.mktemp("bindings") / "data",
        env={"GROUNDFLARE_TEST_CLOCK": "1"},
    )
    yield stack
    assert stack.stop() == 0


@pytest.fixture
def stack(running):
    with connect(running.data_dir) as connected:
        yield connected


def in_worker(stack, worker: str, step: dict) -> dict:
    """What the probe Worker `worker` got from running `step` itself."""
    (result,) = post_json(stack.workers[worker], [step])
    return result


def test_d1_rows_are_the_workers_rows(stack):
    sql = "SELECT 1 AS one, 'two' AS two, 2.5 AS half, NULL AS none, x'0102' AS blob"
    mine = stack.d1("DB").execute(sql)
    theirs = in_worker(stack, "d1-probe", {"op": "all", "sql": sql})["ok"]
    assert (
        mine["results"]
        == theirs["results"]
        == [{"one": 1, "two": "two", "half": 2.5, "none": None, "blob": [1, 2]}]
    )
    assert mine["success"] is True and mine["meta"].keys() == theirs["meta"].keys()


def test_d1_parameters_bytes_included(stack):
    db = stack.d1("DB")
    assert db.first("SELECT ? AS a, ? AS b", [7, b"\x00\xff"]) == {"a": 7, "b": [0, 255]}
    assert db.first("SELECT ? AS a", ["x"], column="a") == "x"
    assert db.raw("SELECT 1 AS a, 2 AS b", column_names=True) == [["a", "b"], [1, 2]]


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM no_such_table", "SELEC 1", "BEGIN TRANSACTION", "SELECT ?1, ?2"],
)
def test_d1_errors_are_the_workers_errors(stack, sql):
    with pytest.raises(BindingError) as raised:
        stack.d1("DB").execute(sql, [1] if "?" in sql else [])
    params = [1] if "?" in sql else []
    theirs = in_worker(stack, "d1-probe", {"op": "all", "sql": sql, "params": params})
    assert str(raised.value) == theirs["error"]["message"]


def test_a_failing_batch_rolls_back_as_in_the_worker(stack):
    db = stack.d1("DB")
    db.exec("CREATE TABLE IF NOT EXISTS batch_probe (n INTEGER PRIMARY KEY)")
    with pytest.raises(BindingError, match="UNIQUE constraint failed"):
        db.batch([("INSERT INTO batch_probe VALUES (?)", [1])] * 2)
    assert db.first("SELECT count(*) AS n FROM batch_probe", column="n") == 0


def test_migrations_apply_once_in_wranglers_table(stack, tmp_path):
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE migrated (a INTEGER);")
    (tmp_path / "0002_second.sql").write_text("INSERT INTO migrated VALUES (1);")
    db = stack.d1("DB")
    assert db.migrate(tmp_path) == ["0001_first.sql", "0002_second.sql"]
    assert db.migrate(tmp_path) == []
    names = db.raw("SELECT name FROM d1_migrations ORDER BY id")
    assert names == [["0001_first.sql"], ["0002_second.sql"]]


def test_a_sql_file_runs_as_wrangler_runs_it_comments_and_all(stack, tmp_path):
    seed = tmp_path / "seed.sql"
    seed.write_text(
        "-- a seed file, as `wrangler d1 execute --file` takes one\n"
        "CREATE TABLE seeded (name TEXT);\n\n"
        "INSERT INTO seeded VALUES ('a'); -- first\nINSERT INTO seeded VALUES ('b');\n"
    )
    answers = stack.d1("DB").execute_file(seed)
    assert [answer["success"] for answer in answers] == [True, True, True]
    assert stack.d1("DB").raw("SELECT name FROM seeded ORDER BY name") == [["a"], ["b"]]


def test_a_sql_file_that_fails_leaves_nothing_of_itself(stack, tmp_path):
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE half (a);\nINSERT INTO missing VALUES (1);\n")
    with pytest.raises(BindingError, match="no such table: missing"):
        stack.d1("DB").execute_file(broken)
    assert stack.d1("DB").first("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'half'") == {
        "n": 0
    }


def test_a_message_sent_from_python_waits_on_the_workers_queue(tmp_path):
    producer = WORKERS / "queues" / "producer.toml"  # no consumer here: messages wait
    running = start_stack([producer], tmp_path / "data")
    try:
        with connect(running.data_dir) as stack:
            stack.queue("JOBS").send({"job": 1})
            stack.queue("JOBS").send_batch([{"body": "two"}, {"body": b"3"}])
        metrics = post_json(running.ready["workers"]["queue-producer"] + "/metrics", {})
        assert metrics["ok"]["backlogCount"] == 3
    finally:
        assert running.stop() == 0


def test_kv_values_in_every_type(stack):
    kv = stack.kv("KV")
    kv.put("json", json.dumps({"a": [1, 2]}), metadata={"m": True})
    assert kv.get("json", "json") == {"a": [1, 2]}
    assert kv.get("json", "arrayBuffer") == b'{"a": [1, 2]}'
    assert kv.get_with_metadata("json")["metadata"] == {"m": True}
    kv.put("bytes", b"\x00\x01\xff")
    assert kv.get("bytes", "arrayBuffer") == b"\x00\x01\xff"
    assert kv.get(["json", "missing"]) == {"json": '{"a": [1, 2]}', "missing": None}
    assert [k["name"] for k in kv.list(prefix="js")["keys"]] == ["json"]
    kv.delete("json")
    assert kv.get("json") is None


@pytest.mark.parametrize(
    ("step", "call"),
    [
        ({"op": "get", "key": "text", "options": "json"}, lambda kv: kv.get("text", "json")),
        ({"op": "put", "key": "", "value": "v"}, lambda kv: kv.put("", "v")),
        ({"op": "get", "key": "k" * 513}, lambda kv: kv.get("k" * 513)),
    ],
)
def test_kv_errors_are_the_workers_errors(stack, step, call):
    stack.kv("KV").put("text", "not json")
    theirs = in_worker(stack, "kv-probe", step)["error"]
    with pytest.raises(BindingError) as raised:
        call(stack.kv("KV"))
    assert (raised.value.name, str(raised.value)) == (theirs["name"], theirs["message"])


def test_kv_expiry_follows_the_stacks_clock(stack):
    kv = stack.kv("KV")
    kv.put("brief", "v", expiration_ttl=60)
    assert kv.get("brief") == "v"
    stack.advance_time(61)
    assert kv.get("brief") is None


def test_r2_streams_a_large_object_both_ways(stack):
    data = bytes(range(256)) * 20_000  # 5 MB
    bucket = stack.r2("BUCKET")
    written = bucket.put("large", io.BytesIO(data), custom_metadata={"k": "v"})
    assert written["size"] == len(data)
    assert written["etag"] == hashlib.md5(data).hexdigest()
    with bucket.get("large") as body:
        assert body.object["customMetadata"] == {"k": "v"}
        assert hashlib.sha256(b"".join(body.iter_bytes())).digest() == hashlib.sha256(data).digest()
    with bucket.get("large", range={"offset": 10, "length": 5}) as part:
        assert part.read() == data[10:15]
    assert bucket.get("large", only_if={"etagDoesNotMatch": written["etag"]})["key"] == "large"
    bucket.delete("large")
    assert bucket.get("large") is None and bucket.head("large") is None


def test_r2_refuses_a_stream_of_unknown_length_as_workerd_does(stack):
    with pytest.raises(BindingError, match="must have a known length") as raised:
        stack.r2("BUCKET").put("unknown", iter([b"a", b"b"]))
    assert raised.value.name == "TypeError"


def test_a_durable_objects_rpc_methods_and_fetch(stack):
    counter = stack.durable_object("COUNTER", "python")
    first = counter.call("bump")
    assert counter.call("bump") == {
        "inMemory": first["inMemory"] + 1,
        "stored": first["stored"] + 1,
    }
    with pytest.raises(BindingError, match='does not implement the method "nope"'):
        counter.call("nope")


def test_a_binding_no_worker_has_is_named_with_those_that_exist(stack):
    with pytest.raises(StackError, match=r"no d1 binding named 'NOPE'.*'d1-probe': \['DB'\]"):
        stack.d1("NOPE")


def test_sql_reads_what_the_object_stored_one_d1_answer_per_statement(stack):
    notes = stack.durable_object("COUNTER", "sql-read")
    notes.call("note", "first")
    notes.call("note", "second")
    count, listed = notes.sql(
        "SELECT count(*) AS n FROM notes; SELECT text, ? AS tag FROM notes ORDER BY rowid",
        [b"\x01\x02"],
    )
    assert count["success"] and count["results"] == [{"n": 2}]
    assert listed["results"] == [
        {"text": "first", "tag": [1, 2]},
        {"text": "second", "tag": [1, 2]},
    ]
    assert set(listed["meta"]) >= {"duration", "rows_read", "rows_written", "changes"}
    by_id = stack.durable_object("COUNTER", id=notes.id)
    assert by_id.sql("SELECT text FROM notes")[0]["results"][0] == {"text": "first"}


def test_a_sql_write_reaches_the_objects_next_call_not_its_stale_memory(stack):
    notes = stack.durable_object("COUNTER", "sql-write")
    assert notes.call("note", "kept") == ["kept"]
    (inserted,) = notes.sql("INSERT INTO notes (text) VALUES (?)", ["added"], write=True)
    assert inserted["meta"]["changes"] == 1
    assert notes.call("notes") == ["kept", "added"]


def test_sql_is_read_only_unless_asked_and_changes_nothing(stack):
    notes = stack.durable_object("COUNTER", "sql-refused")
    notes.call("note", "only")
    with pytest.raises(BindingError) as refused:
        notes.sql("INSERT INTO notes (text) VALUES ('sneaked')")
    assert refused.value.message == "attempt to write a readonly database: SQLITE_READONLY"
    assert notes.sql("SELECT count(*) AS n FROM notes")[0]["results"] == [{"n": 1}]
    assert notes.call("notes") == ["only"]


@pytest.mark.parametrize("sql", ["SELECT * FROM no_such_table", "SELEC 1"])
def test_sql_errors_are_those_the_objects_own_sql_throws(stack, sql):
    notes = stack.durable_object("COUNTER", "sql-errors")
    with pytest.raises(BindingError) as inside:
        notes.call("query", sql)
    with pytest.raises(BindingError) as outside:
        notes.sql(sql)
    assert (outside.value.name, outside.value.message) == (inside.value.name, inside.value.message)


def test_sql_on_an_object_that_never_ran_reads_an_empty_database_and_writes_nothing(stack):
    fresh = stack.durable_object("COUNTER", "sql-never-ran")
    assert fresh.sql("SELECT name FROM sqlite_master")[0]["results"] == []
    with pytest.raises(BindingError, match=r"^no such table: notes: SQLITE_ERROR$"):
        fresh.sql("SELECT * FROM notes")
    with pytest.raises(StackError, match=r"has no storage yet.*call the object once"):
        fresh.sql("CREATE TABLE t (a)", write=True)
    assert fresh.call("notes") == []


def test_sql_on_a_durable_object_binding_no_worker_has_names_those_that_exist(stack):
    with pytest.raises(
        StackError, match=r"no durable-object binding named 'NOPE'.*'plugin-probe': \[.*'COUNTER'"
    ):
        stack.durable_object("NOPE", "x").sql("SELECT 1")
