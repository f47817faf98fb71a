"""HTTP helpers for tests that drive Workers running under `groundflare serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from groundflare.testing import RunningStack, StackFailed, start_stack

REPO = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "workers"

__all__ = [
    "REPO",
    "WORKERS",
    "RunningStack",
    "StackFailed",
    "alive",
    "post_json",
    "request",
    "run_serve",
    "run_steps",
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
