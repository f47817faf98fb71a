"""`groundflare dev`: reloads a changed Worker without losing data or restarting the shim."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial

import pytest
from click.testing import CliRunner

from groundflare.cli import main
from groundflare.contracts.layout import DataDir
from groundflare.shim.door import Door, DoorError
from tests.explorer import Browser
from tests.stack import REPO, eventually, request, runtime

EXAMPLE = REPO / "examples" / "controlplane"
RELOADS = 12
SHIM_RELOADS = 6


@pytest.fixture
def project(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "controlplane")
    return tmp_path / "controlplane"


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_changed_worker_is_reloaded_and_d1_rows_survive(project, tmp_data, stacks):
    stack = stacks([project / "wrangler.toml"], tmp_data, command="dev")
    assert request(stack.url + "/projects", {"name": "kept"}, method="POST")[0] == 201
    shim_pid = runtime(tmp_data)["components"]["shim"]["pid"]
    workerd_pid = runtime(tmp_data)["components"]["workerd"]["pid"]
    edit(project / "src" / "index.js", 'service: "controlplane"', 'service: "controlplane v2"')

    def reloaded():
        status, body = request(stack.url + "/")
        return status == 200 and json.loads(body)["service"] == "controlplane v2"

    eventually(reloaded)
    _, body = request(stack.url + "/projects")
    assert [p["name"] for p in json.loads(body)["projects"]] == ["kept"]
    assert runtime(tmp_data)["components"]["shim"]["pid"] == shim_pid
    # The new workerd serves beside the old one before the old stops and runtime.json says so.
    eventually(
        lambda: runtime(tmp_data)["components"]["workerd"]["pid"] != workerd_pid,
        what="runtime.json naming the new workerd",
    )
    assert stack.stop() == 0
    events = stack.events()
    assert events[0]["event"] == "reloaded" and events[0]["component"] == "workerd"
    assert events[-1] == {"event": "stopped"}
    assert "component" in stack.stderr() and "running" in stack.stderr()


def test_a_binding_added_while_running_is_served_and_the_others_keep_working(
    project, tmp_data, stacks
):
    # A new namespace changes what the shim serves: a new shim replaces the old one, on the
    # same data and the same socket path, and a new workerd the old one.
    stack = stacks([project / "wrangler.toml"], tmp_data, command="dev")
    assert request(stack.url + "/projects", {"name": "kept"}, method="POST")[0] == 201
    before = {name: c["pid"] for name, c in runtime(tmp_data)["components"].items()}
    config = project / "wrangler.toml"
    config.write_text(
        config.read_text() + '\n[[kv_namespaces]]\nbinding = "EXTRA"\nid = "0a1b2c3d4e5f"\n'
    )

    def replaced(name: str) -> bool:
        return runtime(tmp_data)["components"][name]["pid"] != before[name]

    eventually(lambda: replaced("shim") and replaced("workerd"), what="a new shim and workerd")
    assert (tmp_data / "run" / "shim.sock").exists()
    status, body = request(stack.url + "/projects")
    assert status == 200, body
    assert [p["name"] for p in json.loads(body)["projects"]] == ["kept"]
    assert request(stack.url + "/projects", {"name": "added"}, method="POST")[0] == 201
    assert stack.stop() == 0
    reloaded = [e["component"] for e in stack.events() if e["event"] == "reloaded"]
    # The old shim stops last: the old workerd used it until it stopped.
    assert reloaded == ["workerd", "shim"]


class Askers:
    """Threads asking the stack the whole time, each with its own ask(), until stopped; then
    every answer must have been a 200."""

    def __init__(self, *asks: Callable[[], tuple[int, bytes]]) -> None:
        self.failures: list[str] = []
        self.answered = 0
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._keep_asking, args=(a,)) for a in asks]

    def _keep_asking(self, ask: Callable[[], tuple[int, bytes]]) -> None:
        while not self._done.is_set():
            try:
                status, body = ask()
            except (OSError, DoorError) as exc:
                self.failures.append(repr(exc))
                continue
            if status != 200:
                self.failures.append(f"{status} {body[:200]!r}")
            self.answered += 1

    def __enter__(self) -> Askers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join()

    def all_answered(self) -> None:
        assert self.failures == [], (
            f"{len(self.failures)} of {self.answered + len(self.failures)} failed: "
            f"{self.failures[:3]}"
        )


def test_requests_arriving_during_reloads_are_all_answered(project, tmp_data, stacks):
    # A connection the old workerd took off the queue just before it was told to stop used
    # to be closed unanswered (groundflare/handover.py): about one reload in twenty did it,
    # on the Worker's port and on the door the shim fires crons and delivers queues through.
    stack = stacks([project / "wrangler.toml"], tmp_data, command="dev")
    door = Door.of(DataDir(root=tmp_data))

    def through_the_port() -> tuple[int, bytes]:
        return request(stack.url + "/")

    def through_the_door() -> tuple[int, bytes]:
        status, _, body = asyncio.run(door.fetch("controlplane", "GET", "/"))
        return status, body

    def serves(version: str) -> bool:
        return json.loads(request(stack.url + "/")[1])["service"] == version

    with Askers(through_the_port, through_the_port, through_the_door, through_the_door) as asked:
        previous = "controlplane"
        for version in (f"controlplane v{n}" for n in range(1, RELOADS + 1)):
            edit(project / "src" / "index.js", f'service: "{previous}"', f'service: "{version}"')
            eventually(partial(serves, version), what=f"{version} serving")
            previous = version
    asked.all_answered()


def test_d1_calls_during_reloads_that_replace_the_shim_are_all_answered(project, tmp_data, stacks):
    # Each reload adds a namespace, so a new shim replaces the old one each time. The old
    # shim used to stop before the old workerd, closing the connections that workerd still
    # made D1 calls on (81 of ~10,000 answered 500 over six reloads).
    stack = stacks([project / "wrangler.toml"], tmp_data, command="dev")
    config = project / "wrangler.toml"

    def projects() -> tuple[int, bytes]:
        return request(stack.url + "/projects")

    def replaced(before: dict[str, int]) -> bool:
        now = runtime(tmp_data)["components"]
        return all(now[name]["pid"] != pid for name, pid in before.items())

    with Askers(projects, projects, projects) as asked:
        for n in range(SHIM_RELOADS):
            components = runtime(tmp_data)["components"]
            before = {name: components[name]["pid"] for name in ("shim", "workerd")}
            added = f'\n[[kv_namespaces]]\nbinding = "EXTRA{n}"\nid = "{n:032x}"\n'
            config.write_text(config.read_text() + added)
            eventually(partial(replaced, before), what=f"reload {n + 1}")
    asked.all_answered()


def test_a_broken_edit_keeps_the_previous_version_serving(project, tmp_data, stacks):
    stack = stacks([project / "wrangler.toml"], tmp_data, command="dev")
    edit(project / "src" / "index.js", "export default {", "export default {{ oops")
    eventually(lambda: "reload failed, the previous version keeps running" in stack.stderr())
    status, body = request(stack.url + "/")
    assert status == 200 and json.loads(body)["service"] == "controlplane"
    # The failed workerd's door was never put in place, and is gone.
    data = DataDir(root=tmp_data)
    status, _, body = asyncio.run(Door.of(data).fetch("controlplane", "GET", "/"))
    assert status == 200 and json.loads(body)["service"] == "controlplane"
    assert sorted(p.name for p in data.run.glob("door.sock*")) == ["door.sock"]


def test_status_and_logs_read_the_running_stack(tmp_data, stacks):
    stack = stacks([EXAMPLE / "wrangler.toml"], tmp_data)
    request(stack.url + "/")
    runner = CliRunner()
    shown = runner.invoke(main, ["status", "--data-dir", str(tmp_data)])
    assert shown.exit_code == 0
    for name, component in runtime(tmp_data)["components"].items():
        assert f"{name}" in shown.output and str(component["pid"]) in shown.output
    assert stack.url in shown.output
    logs = runner.invoke(main, ["logs", "shim", "--data-dir", str(tmp_data)])
    assert logs.exit_code == 0 and "listening on" in logs.output
    missing = runner.invoke(main, ["logs", "nope", "--data-dir", str(tmp_data)])
    assert missing.exit_code == 1 and "no log for nope" in missing.output
    assert stack.stop() == 0
    gone = runner.invoke(main, ["status", "--data-dir", str(tmp_data)])
    assert gone.exit_code == 1 and "nothing is running" in gone.output


def test_e_on_the_terminal_opens_the_explorer_signed_in(tmp_path, tmp_data):
    """The hotkey asks the shim for a fresh one-time link and hands it to the browser
    ($BROWSER here: a script that writes down what it was given). Pressed while the stack
    is still starting, it is kept until the stack is up."""
    opened = tmp_path / "opened"
    opener = tmp_path / "opener.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    opener.chmod(0o755)
    main_fd, terminal = pty.openpty()
    argv = [sys.executable, "-m", "groundflare", "dev", "-c", str(EXAMPLE / "wrangler.toml")]
    env = {**os.environ, "BROWSER": str(opener), "NO_COLOR": "1"}
    process = subprocess.Popen(
        [*argv, "--data-dir", str(tmp_data), "--port", "0"],
        stdin=terminal,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(terminal)
    try:
        os.write(main_fd, b"e")

        def serving() -> str | None:
            if not (tmp_data / "run" / "runtime.json").exists():
                return None
            state = runtime(tmp_data)
            running = all(c["state"] == "running" for c in state["components"].values())
            return state["endpoints"].get("api") if running else None

        api = eventually(serving, what="the stack running")
        (link,) = eventually(
            lambda: opened.read_text().split() if opened.exists() else None, what="a link"
        )
        assert link.startswith(f"{api}/explorer/")
        browser = Browser(api)
        status, headers, _ = browser.open(link)
        assert status == 303 and headers["Location"] == "/explorer/"
        assert browser.open("/explorer/")[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        os.close(main_fd)
