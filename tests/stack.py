"""Running `groundflare serve` as a real subprocess, the way a test harness or Tauri does."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "workers"
START_TIMEOUT = 60.0


class StackFailed(Exception):
    pass


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    ready: dict[str, Any]
    data_dir: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return self.ready["url"]

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def remaining_stdout(self) -> list[dict[str, Any]]:
        assert self.process.stdout is not None
        return [json.loads(line) for line in self.process.stdout.read().splitlines() if line]


def serve_command(configs: list[Path], data_dir: Path, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "groundflare", "serve", "--data-dir", str(data_dir), "--port", "0"]
    for config in configs:
        argv += ["-c", str(config)]
    return [*argv, *extra]


def start_stack(
    configs: list[Path], data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> RunningStack:
    """Start serve and wait for its ready line; StackFailed carries its stderr otherwise."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"{data_dir.name}.serve-stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            serve_command(configs, data_dir, *extra),
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        if readable:
            line = process.stdout.readline()
            break
        if process.poll() is not None:
            break
    if not line:
        process.kill()
        process.wait()
        raise StackFailed(stderr_path.read_text(encoding="utf-8", errors="replace"))
    ready = json.loads(line)
    if ready.get("event") != "ready":
        process.wait(10)
        raise StackFailed(f"{ready}\n{stderr_path.read_text(errors='replace')}")
    return RunningStack(process=process, ready=ready, data_dir=data_dir, stderr_path=stderr_path)


def request(
    url: str, body: Any = None, method: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def post_json(url: str, body: Any) -> Any:
    status, payload = request(url, body, method="POST")
    assert status == 200, (status, payload[:2000])
    return json.loads(payload)
