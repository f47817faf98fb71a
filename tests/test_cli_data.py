"""groundflare's data CLI (`d1`, `kv`, `r2`, with wrangler's verbs and flags): the same
commands give the same results on a running stack (through its v4 API) and on a stopped
data dir (the same routes in-process, under the data-dir lock)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.stack import RunningStack
from tests.v4 import D1_PROBE_ID, KV_PROBE_ID, PROBES, groundflare, probe_ok, stack_env, wrangler

PROJECT = f"""
name = "project"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "probe"
database_id = "{D1_PROBE_ID}"
migrations_dir = "db/migrations"
migrations_table = "schema_history"

[[kv_namespaces]]
binding = "KV"
id = "{KV_PROBE_ID}"
"""

VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r'"(duration|sql_duration_ms)": [0-9.e-]+'), r'"\1": 0'),
    (re.compile(r"\d+ ms\b"), "N ms"),
    # A statement that inserts nothing reports its connection's last insert (SQLite's
    # last_insert_rowid, as the binding does): a stopped data dir's connection is new.
    (re.compile(r'"changes": 0,\n(\s+)"last_row_id": \d+'), r'"changes": 0,\n\1"last_row_id": 0'),
]


def normal(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wrangler.toml").write_text(PROJECT)
    seed = (
        "CREATE TABLE {0} (n INTEGER);\nINSERT INTO {0} VALUES (1);\nINSERT INTO {0} VALUES (2);\n"
    )
    (folder / "seed.sql").write_text(seed.format("seeded"))
    (folder / "seed2.sql").write_text(seed.format("seeded_again"))
    (folder / "pairs.json").write_text(
        json.dumps(
            [{"key": "b/1", "value": "one"}, {"key": "b/2", "value": "two", "metadata": {"m": 2}}]
        )
    )
    (folder / "doomed.json").write_text(json.dumps(["b/1"]))
    (folder / "object.bin").write_bytes(b"\x00object bytes\xff")
    return folder


def script(data_dir: Path, folder: Path) -> list[str]:
    """The data commands in order; each one's output, normalised."""
    config = ["-c", str(folder / "wrangler.toml"), "--data-dir", str(data_dir)]
    ns = ["--namespace-id", KV_PROBE_ID]
    steps = [
        ["d1", "list", "--json"],
        [
            "d1",
            "execute",
            "DB",
            "--command",
            "CREATE TABLE c (id INTEGER PRIMARY KEY, v TEXT); "
            "INSERT INTO c (v) VALUES ('x'), ('y')",
        ],
        ["d1", "execute", "probe", "--command", "SELECT id, v FROM c ORDER BY id"],
        ["d1", "execute", "probe", "--command", "SELECT count(*) AS n FROM c", "--json"],
        ["d1", "import", "probe", str(folder / "seed.sql")],
        ["d1", "execute", "DB", "--file", str(folder / "seed2.sql"), "--json"],
        ["d1", "export", "probe", "--output", str(data_dir.parent / "dump.sql"), "--table", "c"],
        ["d1", "migrations", "create", "DB", "create things"],
        ["d1", "migrations", "list", "DB"],
        ["d1", "migrations", "apply", "DB"],
        ["d1", "migrations", "apply", "DB"],
        ["d1", "execute", "DB", "--command", "SELECT id, name FROM schema_history", "--json"],
        ["kv", "namespace", "create", "cli-ns"],
        ["kv", "key", "put", "k/1", "value one", *ns, "--metadata", '{"a":1}'],
        ["kv", "key", "get", "k/1", *ns, "--text"],
        ["kv", "key", "put", "k/2", "--path", str(folder / "object.bin"), "--binding", "KV"],
        ["kv", "key", "list", *ns, "--prefix", "k/"],
        ["kv", "bulk", "put", str(folder / "pairs.json"), *ns],
        ["kv", "bulk", "get", str(folder / "pairs.json"), *ns],
        ["kv", "bulk", "delete", str(folder / "doomed.json"), *ns],
        ["kv", "key", "delete", "k/1", *ns],
        ["kv", "key", "list", *ns],
        ["r2", "bucket", "create", "cli-bucket"],
        [
            "r2",
            "object",
            "put",
            "cli-bucket/dir/o.bin",
            "--file",
            str(folder / "object.bin"),
            "--content-type",
            "application/x-cli",
        ],
        ["r2", "object", "get", "cli-bucket/dir/o.bin", "--file", str(data_dir.parent / "got.bin")],
        ["r2", "bucket", "list"],
        ["r2", "object", "delete", "cli-bucket/dir/o.bin"],
        ["r2", "bucket", "delete", "cli-bucket"],
        ["kv", "namespace", "list"],
    ]
    outputs = []
    for step in steps:
        if step[:3] == ["d1", "migrations", "list"]:
            migration = next((folder / "db" / "migrations").glob("0001_*.sql"))
            migration.write_text("CREATE TABLE thing (id INTEGER PRIMARY KEY);\n")
        # Creating a migration file touches no data: it takes the config only.
        creating = step[:3] == ["d1", "migrations", "create"]
        done = groundflare(*step, *(config[:2] if creating else config))
        assert done.returncode == 0, f"{step}: {done.stdout}\n{done.stderr}"
        outputs.append(normal(done.stdout).replace(str(data_dir.parent), "<dir>"))
    return outputs


@pytest.fixture
def stopped(tmp_path: Path, stacks) -> Path:
    """A data dir whose stack ran once (its bindings are in the catalogue), now stopped."""
    data_dir = tmp_path / "stopped" / "data"
    assert stacks(PROBES, data_dir).stop() == 0
    return data_dir


def test_the_same_commands_give_the_same_results_running_or_stopped(tmp_path, stacks, stopped):
    running: RunningStack = stacks(PROBES, tmp_path / "running" / "data")
    live = script(running.data_dir, project(tmp_path / "running" / "project"))
    offline = script(stopped, project(tmp_path / "stopped" / "project"))
    assert live == offline
    assert (tmp_path / "running" / "dump.sql").read_text() == (
        tmp_path / "stopped" / "dump.sql"
    ).read_text()
    assert (tmp_path / "stopped" / "got.bin").read_bytes() == b"\x00object bytes\xff"
    # What the commands changed is what the running stack's Workers see.
    seen = probe_ok(running, "d1-probe", {"op": "all", "sql": "SELECT v FROM c ORDER BY id"})
    assert [row["v"] for row in seen["results"]] == ["x", "y"]
    assert probe_ok(running, "kv-probe", {"op": "get", "key": "b/2"}) == "two"
    assert probe_ok(running, "kv-probe", {"op": "get", "key": "b/1"}) is None


def test_offline_writes_are_what_the_next_stack_serves(stopped, stacks, tmp_path):
    folder = project(tmp_path / "project")
    config = ["-c", str(folder / "wrangler.toml"), "--data-dir", str(stopped)]
    done = groundflare(
        "d1",
        "execute",
        "DB",
        "--command",
        "CREATE TABLE off (v); INSERT INTO off VALUES ('offline')",
        *config,
    )
    assert done.returncode == 0, done.stderr
    done = groundflare("kv", "key", "put", "off", "line", "--binding", "KV", *config)
    assert done.returncode == 0, done.stderr
    stack = stacks(PROBES, stopped)
    assert probe_ok(stack, "d1-probe", {"op": "all", "sql": "SELECT v FROM off"})["results"] == [
        {"v": "offline"}
    ]
    assert probe_ok(stack, "kv-probe", {"op": "get", "key": "off"}) == "line"


def test_execute_prints_a_table_for_people_and_json_for_scripts(tmp_path, stacks):
    stack = stacks(PROBES, tmp_path / "data")
    data = ["--data-dir", str(stack.data_dir)]
    sql = "SELECT 1 AS one, 'two' AS two, NULL AS three"
    people = groundflare("d1", "execute", "probe", "--command", sql, *data)
    assert people.stdout.splitlines() == [
        "one | two | three",
        "----+-----+------",
        "1   | two | NULL ",
    ]
    scripts = json.loads(
        groundflare("d1", "execute", "probe", "--command", sql, "--json", *data).stdout
    )
    assert scripts[0]["results"] == [{"one": 1, "two": "two", "three": None}]
    assert {"rows_read", "rows_written", "changes", "duration"} <= set(scripts[0]["meta"])


def test_bad_input_is_one_line_with_cloudflares_message(tmp_path, stacks):
    stack = stacks(PROBES, tmp_path / "data")
    data = ["--data-dir", str(stack.data_dir)]
    done = groundflare("d1", "execute", "probe", "--command", "SELEC nonsense", *data)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        'groundflare: d1: near "SELEC": syntax error at offset 0: SQLITE_ERROR [code: 7500]'
    ]
    done = groundflare("r2", "object", "get", "no-such-bucket/x", "--pipe", *data)
    assert done.returncode == 1
    assert "The specified bucket does not exist. [code: 10006]" in done.stderr
    assert "Traceback" not in done.stderr


def test_migrations_move_between_wrangler_and_groundflare(tmp_path, stacks):
    stack = stacks(PROBES, tmp_path / "data")
    folder = project(tmp_path / "project")
    migrations = folder / "db" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_first.sql").write_text("CREATE TABLE first (id INTEGER);\n")
    env = stack_env(stack.data_dir)
    done = wrangler(
        "d1", "migrations", "apply", "probe", "--remote", env=env, cwd=folder, home=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    config = ["-c", str(folder / "wrangler.toml"), "--data-dir", str(stack.data_dir)]
    created = groundflare("d1", "migrations", "create", "DB", "second step", *config[:2])
    assert "0002_second_step.sql" in created.stdout
    (migrations / "0002_second_step.sql").write_text("CREATE TABLE second (id INTEGER);\n")
    listed = groundflare("d1", "migrations", "list", "DB", *config)
    assert "0002_second_step.sql" in listed.stdout and "0001_first.sql" not in listed.stdout
    assert groundflare("d1", "migrations", "apply", "DB", *config).returncode == 0
    done = wrangler(
        "d1", "migrations", "list", "probe", "--remote", env=env, cwd=folder, home=tmp_path
    )
    assert "No migrations to apply" in done.stdout
    rows = probe_ok(
        stack, "d1-probe", {"op": "all", "sql": "SELECT name FROM schema_history ORDER BY id"}
    )
    assert [r["name"] for r in rows["results"]] == ["0001_first.sql", "0002_second_step.sql"]
