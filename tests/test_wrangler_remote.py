"""The real wrangler CLI (from npm, tests/clients) with CLOUDFLARE_API_BASE_URL,
CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID from `groundflare env`: its `--remote`
D1, KV and R2 commands work against a running `groundflare serve`, and what they change
is what the Workers' bindings see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.stack import RunningStack, start_stack
from tests.v4 import D1_PROBE_ID, KV_PROBE_ID, PROBES, probe_ok, stack_env, wrangler

PROJECT = f"""
name = "project"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "probe"
database_id = "{D1_PROBE_ID}"
migrations_dir = "migrations"

[[kv_namespaces]]
binding = "KV"
id = "{KV_PROBE_ID}"
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(PROBES, tmp_path_factory.mktemp("wrangler") / "data")
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wrangler project naming the probe stack's database and namespace."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "wrangler.toml").write_text(PROJECT)
    return folder


class Wrangler:
    def __init__(self, stack: RunningStack, project: Path, home: Path) -> None:
        self.env = stack_env(stack.data_dir)
        self.project = project
        self.home = home

    def __call__(self, *args: str) -> CompletedProcess[str]:
        done = wrangler(*args, env=self.env, cwd=self.project, home=self.home)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture(scope="module")
def run(stack, project, tmp_path_factory) -> Wrangler:
    return Wrangler(stack, project, tmp_path_factory.mktemp("home"))


def rows(stack: RunningStack, sql: str) -> list[dict]:
    return probe_ok(stack, "d1-probe", {"op": "all", "sql": sql})["results"]


def test_d1_list_shows_the_stacks_databases(run):
    out = run("d1", "list", "--json").stdout
    listed = json.loads(out[out.index("[") :])
    assert [(db["uuid"], db["name"]) for db in listed] == [(D1_PROBE_ID, "probe")]


def test_d1_execute_command_runs_on_the_bindings_database(run, stack):
    done = run(
        "d1",
        "execute",
        "probe",
        "--remote",
        "--command",
        "CREATE TABLE w (a); INSERT INTO w VALUES (1), (2); SELECT sum(a) AS total FROM w",
    )
    assert "Executing on remote database probe" in done.stdout
    assert "Executed 3 commands" in done.stdout
    assert '"total": 3' in done.stdout
    assert rows(stack, "SELECT a FROM w ORDER BY a") == [{"a": 1}, {"a": 2}]


def test_d1_execute_file_goes_through_the_import_flow(run, stack, project):
    (project / "seed.sql").write_text(
        "CREATE TABLE seeded (x INTEGER, t TEXT);\n"
        "INSERT INTO seeded VALUES (1, 'one');\nINSERT INTO seeded VALUES (2, 'it''s');\n"
    )
    done = run("d1", "execute", "probe", "--remote", "--file", "seed.sql")
    assert "Uploading" in done.stdout
    assert "Executed 3 queries" in done.stdout
    assert rows(stack, "SELECT x, t FROM seeded ORDER BY x") == [
        {"x": 1, "t": "one"},
        {"x": 2, "t": "it's"},
    ]


def test_d1_execute_file_that_fails_changes_nothing(stack, project):
    (project / "broken.sql").write_text(
        "CREATE TABLE half (x);\nINSERT INTO half VALUES (1);\nINSERT INTO nowhere VALUES (2);\n"
    )
    env = stack_env(stack.data_dir)
    done = wrangler(
        "d1",
        "execute",
        "probe",
        "--remote",
        "--file",
        "broken.sql",
        env=env,
        cwd=project,
        home=project,
    )
    assert done.returncode != 0
    assert "no such table: nowhere" in done.stdout + done.stderr
    names = rows(stack, "SELECT name FROM sqlite_schema WHERE name = 'half'")
    assert names == []


def test_d1_migrations_apply_uses_wranglers_tracking_table(run, stack, project):
    migrations = project / "migrations"
    migrations.mkdir()
    (migrations / "0001_create.sql").write_text("CREATE TABLE m (id INTEGER PRIMARY KEY, v);\n")
    (migrations / "0002_fill.sql").write_text("INSERT INTO m (v) VALUES ('a');\n")
    done = run("d1", "migrations", "apply", "probe", "--remote")
    assert "0001_create.sql" in done.stdout and "0002_fill.sql" in done.stdout
    applied = rows(stack, "SELECT id, name FROM d1_migrations ORDER BY id")
    assert applied == [{"id": 1, "name": "0001_create.sql"}, {"id": 2, "name": "0002_fill.sql"}]
    assert rows(stack, "SELECT v FROM m") == [{"v": "a"}]
    again = run("d1", "migrations", "apply", "probe", "--remote")
    assert "No migrations to apply" in again.stdout


def test_d1_export_writes_productions_dump_format(run, stack, project):
    probe_ok(stack, "d1-probe", {"op": "run", "sql": "CREATE TABLE ex (n INTEGER, s TEXT)"})
    insert = {"op": "run", "sql": "INSERT INTO ex VALUES (?, ?)", "params": [5, "a\nb"]}
    probe_ok(stack, "d1-probe", insert)
    done = run("d1", "export", "probe", "--remote", "--output", "dump.sql", "--table", "ex")
    assert "Downloaded to dump.sql" in done.stdout
    dump = (project / "dump.sql").read_text()
    assert dump.splitlines()[:3] == [
        "PRAGMA defer_foreign_keys=TRUE;",
        "CREATE TABLE ex (n INTEGER, s TEXT);",
        'INSERT INTO "ex" ("n","s") VALUES(5,replace(\'a\\nb\',\'\\n\',char(10)));',
    ]


def test_kv_namespace_list_names_the_bound_namespace(run):
    out = run("kv", "namespace", "list").stdout
    listed = json.loads(out[out.index("[") :])
    assert [(ns["id"], ns["title"]) for ns in listed] == [(KV_PROBE_ID, "KV")]


def test_kv_key_put_get_list_delete(run, stack):
    ns = ["--namespace-id", KV_PROBE_ID, "--remote"]
    run("kv", "key", "put", "wr/one", "first value", *ns)
    assert probe_ok(stack, "kv-probe", {"op": "get", "key": "wr/one"}) == "first value"
    probe_ok(stack, "kv-probe", {"op": "put", "key": "wr/two", "value": "from the worker"})
    assert run("kv", "key", "get", "wr/two", *ns).stdout.strip().endswith("from the worker")
    out = run("kv", "key", "list", "--prefix", "wr/", *ns).stdout
    assert [k["name"] for k in json.loads(out[out.index("[") :])] == ["wr/one", "wr/two"]
    run("kv", "key", "delete", "wr/one", *ns)
    assert probe_ok(stack, "kv-probe", {"op": "get", "key": "wr/one"}) is None


def test_kv_bulk_put_and_delete(run, stack, project):
    pairs = [{"key": f"bulk/{i}", "value": f"v{i}"} for i in range(3)]
    pairs.append({"key": "bulk/meta", "value": "m", "metadata": {"tag": 1}})
    (project / "pairs.json").write_text(json.dumps(pairs))
    ns = ["--namespace-id", KV_PROBE_ID, "--remote"]
    assert "Success" in run("kv", "bulk", "put", "pairs.json", *ns).stdout
    seen = probe_ok(stack, "kv-probe", {"op": "getWithMetadata", "key": "bulk/meta"})
    assert seen == {"value": "m", "metadata": {"tag": 1}, "cacheStatus": None}
    (project / "doomed.json").write_text(json.dumps(["bulk/0", "bulk/1"]))
    assert "Success" in run("kv", "bulk", "delete", "doomed.json", "--force", *ns).stdout
    listed = probe_ok(stack, "kv-probe", {"op": "list", "options": {"prefix": "bulk/"}})
    assert [k["name"] for k in listed["keys"]] == ["bulk/2", "bulk/meta"]


def test_r2_object_put_get_delete(run, stack, project):
    (project / "upload.bin").write_bytes(b"\x00\x01binary" * 1000)
    run(
        "r2",
        "object",
        "put",
        "probe/wr/file.bin",
        "--file",
        "upload.bin",
        "--remote",
        "--content-type",
        "application/x-test",
    )
    seen = probe_ok(stack, "r2-probe", {"op": "head", "key": "wr/file.bin"})
    assert seen["size"] == 8000
    assert seen["httpMetadata"]["contentType"] == "application/x-test"
    probe_ok(
        stack, "r2-probe", {"op": "put", "key": "wr/worker.txt", "value": "written by a worker"}
    )
    run("r2", "object", "get", "probe/wr/worker.txt", "--file", "got.txt", "--remote")
    assert (project / "got.txt").read_text() == "written by a worker"
    run("r2", "object", "delete", "probe/wr/file.bin", "--remote")
    assert probe_ok(stack, "r2-probe", {"op": "head", "key": "wr/file.bin"}) is None
