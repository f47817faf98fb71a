"""`groundflare serve` as a host runs it: the ready line, runtime.json, clean stops, failures."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.stack import REPO, WORKERS, alive, request

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
    assert stack.events() == [{"event": "stopped"}]
    assert "[shim]" in stack.stderr()
    assert (tmp_data / "logs" / "shim.log").read_text().strip()
    assert (tmp_data / "logs" / "workerd.log").exists()


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
