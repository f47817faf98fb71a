"""`groundflare serve` as a host runs it: the ready line, runtime.json, clean stops, failures."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest

from tests.stack import REPO, WORKERS, alive, request, run_serve

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
READY_KEYS = {"event", "url", "workers", "sandbox", "surface_token", "api", "pid", "data_dir"}


def test_the_example_prints_one_ready_line_and_answers(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    try:
        ready = stack.ready
        assert set(ready) == READY_KEYS
        assert ready["url"].startswith("http://127.0.0.1:")
        assert ready["workers"] == {"controlplane": ready["url"]}
        assert ready["pid"] == stack.process.pid
        assert ready["data_dir"] == str(tmp_data.resolve())
        assert (ready["sandbox"], ready["surface_token"]) == (None, None)
        assert ready["api"].startswith("http://127.0.0.1:")
        status, body = request(ready["url"] + "/projects", {"name": "alpha"}, method="POST")
        assert status == 201
        assert json.loads(body)["project"]["name"] == "alpha"
    finally:
        assert stack.stop() == 0
    assert stack.events() == [{"event": "stopped"}]


def test_runtime_json_lists_live_children_and_sigterm_stops_them_all(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    runtime = json.loads((tmp_data / "run" / "runtime.json").read_text())
    assert runtime["pid"] == stack.process.pid
    assert set(runtime["components"]) == {"shim", "workerd"}
    pids = [c["pid"] for c in runtime["components"].values()]
    assert all(c["state"] == "running" for c in runtime["components"].values())
    assert all(alive(pid) for pid in pids)
    assert runtime["endpoints"]["worker:controlplane"] == stack.url
    assert oct((tmp_data / "run").stat().st_mode & 0o777) == "0o700"
    assert stack.stop() == 0
    assert not any(alive(pid) for pid in pids)
    assert not (tmp_data / "run" / "runtime.json").exists()
    assert not (tmp_data / "run" / "shim.sock").exists()


def test_data_persists_across_a_restart(tmp_data, stacks):
    first = stacks([EXAMPLE], tmp_data)
    try:
        request(first.url + "/projects", {"name": "kept"}, method="POST")
    finally:
        assert first.stop() == 0
    second = stacks([EXAMPLE], tmp_data)
    try:
        status, body = request(second.url + "/projects")
        assert status == 200
        assert [p["name"] for p in json.loads(body)["projects"]] == ["kept"]
    finally:
        assert second.stop() == 0
    files = sorted(p.name for p in (tmp_data / "d1").glob("*.sqlite"))
    assert files == ["controlplane-6f1c6f0e-8d0a-4a36-9f0e-2f5a4a1c0b11.sqlite"]


def test_logs_go_to_stderr_and_component_files_never_stdout(tmp_data, stacks):
    stack = stacks([EXAMPLE], tmp_data)
    request(stack.url + "/")
    assert stack.stop() == 0
    assert "[shim]" in stack.stderr()
    assert (tmp_data / "logs" / "shim.log").read_text().strip()
    assert (tmp_data / "logs" / "workerd.log").exists()


def expect_failure(result: subprocess.CompletedProcess[str], component: str, reason: str) -> None:
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"groundflare: {component}: "), result.stderr
    assert reason in last, last
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["fatal"]
    assert events[0]["component"] == component


def test_a_missing_workerd_is_named_with_how_to_fix_it(tmp_data):
    result = run_serve(
        "-c",
        str(EXAMPLE),
        "--data-dir",
        str(tmp_data),
        env={"GROUNDFLARE_WORKERD": str(tmp_data / "no-workerd")},
    )
    expect_failure(result, "workerd", "is not an executable")


def test_a_bad_wrangler_field_is_named(tmp_path, tmp_data):
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "x"\nmain = "x.js"\n[[d1_databases]]\ndatabase_name = "n"\n')
    (tmp_path / "x.js").write_text("export default {}")
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    expect_failure(result, "config", "d1_databases.0.binding: Field required")
    assert result.returncode == 2


def test_a_missing_main_module_is_named(tmp_path, tmp_data):
    config = tmp_path / "wrangler.jsonc"
    config.write_text('{\n  // comment\n  "name": "x", "main": "src/gone.js",\n}\n')
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    expect_failure(result, "config", "main: 'src/gone.js' does not exist")


def test_a_port_in_use_is_reported_with_what_to_do(tmp_data):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("-c", str(EXAMPLE), "--data-dir", str(tmp_data), "--port", str(port))
    expect_failure(result, "workerd", f"port {port} on 127.0.0.1 is already in use")


def test_a_config_workerd_rejects_reports_workerds_message(tmp_path, tmp_data):
    shutil.copy(WORKERS / "d1" / "worker.js", tmp_path / "worker.js")
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "flags"\nmain = "worker.js"\ncompatibility_date = "2026-11-01"\n'
        'compatibility_flags = ["no_such_flag"]\n'
    )
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(result, "workerd", "No such compatibility flag: no_such_flag")


def test_a_future_compatibility_date_is_clamped_with_a_warning(tmp_path, tmp_data, stacks):
    shutil.copy(WORKERS / "d1" / "worker.js", tmp_path / "worker.js")
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "future"\nmain = "worker.js"\ncompatibility_date = "2999-01-01"\n'
        "unknown_field = 1\n"
    )
    stack = stacks([config], tmp_data)
    try:
        status, _ = request(stack.url, [], method="POST")
        assert status == 200
    finally:
        assert stack.stop() == 0
    stderr = stack.stderr()
    assert "compatibility_date 2999-01-01 is newer than this workerd supports" in stderr
    assert "unknown_field is not supported yet and is ignored" in stderr


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_both_stop_signals_exit_zero(tmp_data, signum, stacks):
    import signal

    stack = stacks([EXAMPLE], tmp_data)
    stack.process.send_signal(getattr(signal, signum))
    assert stack.process.wait(15) == 0


def test_a_worker_that_fails_to_load_reports_workerds_error_not_its_output(tmp_path, tmp_data):
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "w"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n')
    (tmp_path / "w.js").write_text(
        'console.warn("a warning the Worker prints first");\n'
        'export default { fetch() { return new Response("") } };\n'
        'throw new Error("boom at load");\n'
    )
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data), "--port", "0")
    expect_failure(result, "workerd", "service w: Uncaught Error: boom at load (at w.js:3:7)")
    assert result.returncode == 1
