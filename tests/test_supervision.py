"""The supervisor as a host relies on it: restarts, crash loops, one owner, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

from groundflare.logs import RotatingLog
from groundflare.profile import Installation
from tests.stack import REPO, alive, eventually, next_event, request, run_serve, runtime

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"


def test_sigkill_of_serve_leaves_no_child_within_two_seconds(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    pids = [c["pid"] for c in runtime(tmp_data)["components"].values()]
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(5)
    eventually(lambda: not any(alive(pid) for pid in pids), 2.0, "every child gone")


def test_a_killed_workerd_is_restarted_on_the_same_port(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    old = runtime(tmp_data)["components"]["workerd"]["pid"]
    os.kill(old, signal.SIGKILL)
    event = next_event(stack)
    assert event["event"] == "restarted"
    assert event["component"] == "workerd"
    assert event["restarts"] == 1
    assert event["pid"] != old
    assert runtime(tmp_data)["components"]["workerd"] == {"pid": event["pid"], "state": "running"}
    status, body = request(stack.url + "/")
    assert status == 200 and json.loads(body)["service"] == "controlplane"


def test_a_killed_shim_is_restarted_and_data_is_intact(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    request(stack.url + "/projects", {"name": "before"}, method="POST")
    os.kill(runtime(tmp_data)["components"]["shim"]["pid"], signal.SIGKILL)
    assert next_event(stack)["component"] == "shim"
    status, body = request(stack.url + "/projects")
    assert status == 200
    assert [p["name"] for p in json.loads(body)["projects"]] == ["before"]


def test_a_component_that_keeps_crashing_ends_fatal_with_its_class(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    killed = set()
    events = []
    while True:
        pid = runtime(tmp_data)["components"]["workerd"]["pid"]
        if pid not in killed and runtime(tmp_data)["components"]["workerd"]["state"] == "running":
            killed.add(pid)
            os.kill(pid, signal.SIGKILL)
        events.append(next_event(stack))
        if events[-1]["event"] == "fatal":
            break
    fatal = events[-1]
    assert fatal["component"] == "workerd"
    assert fatal["class"] == "crash-loop"
    assert fatal["advice"] == "it keeps exiting; see its log in logs/"
    assert [e["event"] for e in events[:-1]] == ["restarted"] * (len(events) - 1)
    assert stack.process.wait(30) == 1
    assert "groundflare: workerd:" in stack.stderr().strip().splitlines()[-1]


def test_a_second_supervisor_on_the_same_data_dir_names_the_owner(tmp_data, stacks):
    first = stacks([EXAMPLE], tmp_data)
    second = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", "0")
    assert second.returncode == 1
    assert f"is in use by groundflare pid {first.process.pid}" in second.stderr
    assert request(first.url + "/")[0] == 200


def test_a_second_supervisor_writes_nothing_into_a_data_dir_in_use(tmp_path, tmp_data, stacks):
    """It fails before bundling: the first stack, restarted later, still runs its own code."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "wrangler.toml").write_text(
        'name = "one"\nmain = "src/index.ts"\ncompatibility_date = "2026-11-01"\n'
    )
    source = project / "src" / "index.ts"
    source.parent.mkdir()
    source.write_text('export default { fetch() { return new Response("first"); } };\n')
    first = stacks([project / "wrangler.toml"], tmp_data)
    bundles = {p: p.read_bytes() for p in (tmp_data / "bundles").rglob("*") if p.is_file()}
    assert bundles
    source.write_text('export default { fetch() { return new Response("second"); } };\n')
    second = run_serve("-c", str(project / "wrangler.toml"), "--data-dir", str(tmp_data))
    assert second.returncode == 1
    assert second.stderr.splitlines() == [
        f"groundflare: data-dir: {tmp_data} is in use by groundflare pid {first.process.pid}: "
        "stop it first, or use another --data-dir"
    ]
    assert [json.loads(line)["event"] for line in second.stdout.splitlines()] == ["fatal"]
    assert {p: p.read_bytes() for p in (tmp_data / "bundles").rglob("*") if p.is_file()} == bundles
    os.kill(runtime(tmp_data)["components"]["workerd"]["pid"], signal.SIGKILL)
    assert next_event(first)["event"] == "restarted"
    assert request(first.url + "/") == (200, b"first")


def test_health_reports_each_component(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    with urllib.request.urlopen(stack.ready["api"] + "/_groundflare/health") as response:
        health = json.load(response)
    components = runtime(tmp_data)["components"]
    assert health == {
        "ok": True,
        "components": {
            name: {"state": "running", "pid": c["pid"]} for name, c in components.items()
        },
    }
    status, body = request(stack.ready["api"] + "/client/v4/accounts")
    assert status == 401
    assert json.loads(body)["errors"] == [{"code": 10000, "message": "Authentication error"}]


def test_secrets_never_reach_argv_environ_logs_or_runtime_json(tmp_data, stacks, upstream):
    stack = stacks([EXAMPLE], tmp_data, extra=["--sandbox-upstream", upstream])
    install = Installation(tmp_data)
    values = [*install.secrets(install.load()).values(), stack.ready["surface_token"]]
    components = runtime(tmp_data)["components"]
    assert set(components) == {"shim", "workerd", "proxy"}
    for pid in [stack.process.pid, *(c["pid"] for c in components.values())]:
        for exposed in ("cmdline", "environ"):
            text = Path(f"/proc/{pid}/{exposed}").read_bytes()
            assert not any(v.encode() in text for v in values), (pid, exposed)
    request(stack.url + "/")
    assert stack.stop() == 0
    texts = [p.read_text() for p in (tmp_data / "logs").glob("*.log")]
    texts += [stack.stderr(), (tmp_data / "profile.json").read_text()]
    assert not any(v in text for v in values for text in texts)


def test_logs_rotate_by_size(tmp_path):
    log = RotatingLog(tmp_path / "c.log", max_bytes=100, keep=2)
    for index in range(30):
        log.write_line(f"line {index:02d} " + "x" * 10)
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["c.log", "c.log.1", "c.log.2"]
    assert "line 29" in (tmp_path / "c.log").read_text()
    assert all(p.stat().st_size <= 100 + 20 for p in tmp_path.iterdir())
