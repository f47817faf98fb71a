"""HTTP helpers for tests that drive Workers running under `groundflare serve`."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from groundflare.testing import RunningStack, StackFailed, start_stack

REPO = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "workers"

__all__ = [
    "REPO",
    "WORKERS",
    "RunningStack",
    "StackFailed",
    "advance_clock",
    "alive",
    "component_pid",
    "eventually",
    "next_event",
    "post_json",
    "request",
    "restarted",
    "run_serve",
    "run_steps",
    "runtime",
    "shim_post",
    "start_stack",
    "step_error",
    "step_ok",
]


def request(
    url: str, body: Any = None, method: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def alive(pid: int) -> bool:
    """Running, not merely a zombie awaiting its parent."""
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def run_serve(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`groundflare serve ...` to its end: for start failures, which exit at once."""
    return subprocess.run(
        [sys.executable, "-m", "groundflare", "serve", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def post_json(url: str, body: Any) -> Any:
    status, payload = request(url, body, method="POST")
    assert status == 200, (status, payload[:2000])
    return json.loads(payload)


# The probe Workers (tests/workers/{d1,kv,r2}) all take a JSON list of steps and answer
# each with {"ok": result} or {"error": {"name", "message"}}.


def run_steps(stack: RunningStack, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    return post_json(stack.url, list(steps))


def step_ok(stack: RunningStack, step: dict[str, Any]) -> Any:
    (result,) = run_steps(stack, step)
    assert "ok" in result, result
    return result["ok"]


def step_error(stack: RunningStack, step: dict[str, Any]) -> str:
    """The message of the error the Worker caught."""
    (result,) = run_steps(stack, step)
    assert "error" in result, result
    return result["error"]["message"]


T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """The first truthy result of `check()`, polled until `timeout`: the suite's one way of
    waiting for something a process does in its own time (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout:.0f} s"
        time.sleep(0.05)
    return result


def runtime(data_dir: Path) -> dict[str, Any]:
    """The stack's run/runtime.json: its components' pids and states, its endpoints."""
    return json.loads((data_dir / "run" / "runtime.json").read_text())


def component_pid(data_dir: Path, component: str) -> int:
    pid = runtime(data_dir)["components"][component]["pid"]
    assert pid is not None, f"{component} has no process"
    return pid


def restarted(data_dir: Path, component: str, old_pid: int, timeout: float = 30.0) -> int:
    """Wait until the supervisor runs `component` again in a new process; its pid."""

    def running_anew() -> int | None:
        state = runtime(data_dir)["components"][component]
        return state["pid"] if state["pid"] != old_pid and state["state"] == "running" else None

    return eventually(running_anew, timeout, f"{component} restarted")


def next_event(stack: RunningStack, timeout: float = 30.0) -> dict[str, Any]:
    """The next JSON event serve prints on stdout."""
    assert stack.process.stdout is not None
    readable, _, _ = select.select([stack.process.stdout], [], [], timeout)
    assert readable, "no event before the timeout"
    return json.loads(stack.process.stdout.readline())


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("shim", timeout=30)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self._path))


def advance_clock(stack: RunningStack, seconds: float) -> float:
    """Move the shim's clock forward (the stack runs with GROUNDFLARE_TEST_CLOCK=1): KV
    expirations and cron triggers then happen as if that much time had passed."""
    status, answer = shim_post(
        stack, "/_groundflare/clock", json.dumps({"advance": seconds}).encode()
    )
    assert status == 200, answer
    return answer["now"]


def shim_post(stack: RunningStack, path: str, body: bytes = b"") -> tuple[int, Any]:
    """A POST to the shim's own routes on its unix socket (same user only)."""
    conn = _UnixHTTPConnection(stack.data_dir / "run" / "shim.sock")
    try:
        conn.request("POST", path, body=body)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    return response.status, json.loads(payload)
