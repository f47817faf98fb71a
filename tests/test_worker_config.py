"""A production wrangler config runs unchanged: vars, secrets, modules, services, environments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stack import WORKERS, request, run_serve, start_stack

MAIN = WORKERS / "do-main" / "wrangler.toml"
AUX = WORKERS / "do-aux" / "wrangler.toml"
SECRET = "s3cret-from-dev-vars"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack([MAIN, AUX], tmp_path_factory.mktemp("config") / "data")
    yield running
    assert running.stop() == 0


def get(url: str):
    status, body = request(url)
    assert status == 200, body
    return json.loads(body)


def test_vars_of_every_type(stack):
    assert get(stack.url + "/vars") == {
        "TEXT": "plain text",
        "NUMBER": 42,
        "FLAG": True,
        "OBJECT": {"nested": {"list": [1, "two", 3.5]}},
        "types": ["string", "number", "boolean", "object"],
    }


def test_a_secret_from_dev_vars_reaches_the_worker_and_nowhere_else(stack):
    assert get(stack.url + "/secret") == {"API_KEY": SECRET}
    data_dir = Path(stack.ready["data_dir"])
    rendered = (data_dir / "run" / "workerd.capnp").read_text()
    assert SECRET not in rendered
    assert 'fromEnvironment = "GROUNDFLARE_SECRET__DO_MAIN__API_KEY"' in rendered
    runtime = json.loads((data_dir / "run" / "runtime.json").read_text())
    pids = [stack.process.pid, *(c["pid"] for c in runtime["components"].values())]
    for pid in pids:
        assert SECRET.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    shim_pid = runtime["components"]["shim"]["pid"]
    assert SECRET.encode() not in Path(f"/proc/{shim_pid}/environ").read_bytes()
    logs = "".join(p.read_text() for p in (data_dir / "logs").glob("*.log")) + stack.stderr()
    assert SECRET not in logs


def test_text_data_and_rule_modules_and_node_compat(stack):
    assert get(stack.url + "/modules") == {
        "greeting": "hello from a text module\n",
        "notes": "# notes\nread through a [[rules]] entry\n",
        "blob": [0, 1, 2, 255],
        "buffer": "bm9kZSBjb21wYXQ=",
    }


def test_a_service_binding_calls_the_other_worker(stack):
    assert get(stack.url + "/service") == {"hello": "aux", "counter": "object"}


def test_every_worker_gets_its_own_port(stack):
    workers = stack.ready["workers"]
    assert list(workers) == ["do-main", "do-aux"]
    assert len(set(workers.values())) == 2
    assert get(workers["do-aux"] + "/")["hello"] == "aux"


def test_env_staging_picks_that_sections_bindings(tmp_data, stacks):
    staging = stacks([MAIN, AUX], tmp_data, extra=["--env", "staging"])
    assert get(staging.ready["workers"]["do-aux"] + "/") == {
        "hello": "aux in staging",
        "counter": "undefined",
    }
    assert "durable_objects exists at the top level but not in [env.staging]" in staging.stderr()


def test_an_unknown_environment_is_a_config_error(tmp_data):
    result = run_serve("-c", str(AUX), "--env", "nope", "--data-dir", str(tmp_data))
    assert result.returncode == 2
    assert "no [env.nope] section (environments: staging)" in result.stderr


def test_a_binding_to_a_worker_that_is_not_running_is_named(tmp_data):
    result = run_serve("-c", str(MAIN), "--data-dir", str(tmp_data))
    assert result.returncode == 2
    assert "service binding AUX targets Worker 'do-aux', which is not running" in result.stderr


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ('[[kv_namespaces]]\nbinding = "KV"\nid = "line\\nbreak"', "kv_namespaces.0.id"),
        (
            '[[d1_databases]]\nbinding = "DB"\ndatabase_name = "café"',
            "d1_databases.0.database_name",
        ),
        ('[[r2_buckets]]\nbinding = "B"\nbucket_name = "nul\\u0000"', "r2_buckets.0.bucket_name"),
    ],
)
def test_resource_ids_outside_printable_ascii_are_refused_at_load(tmp_path, entry, field):
    config = tmp_path / "wrangler.toml"
    config.write_text(
        f'name = "w"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n{entry}\n',
        encoding="utf-8",
    )
    (tmp_path / "w.js").write_text("export default { fetch() { return new Response('') } }\n")
    result = run_serve("-c", str(config), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"groundflare: config: {config}: {field}: Value error, ")
    assert line.endswith(
        "must be non-empty printable ASCII (no control characters such as "
        "newline or NUL, no letters outside ASCII)"
    )
