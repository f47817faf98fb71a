"""A real `groundflare serve` subprocess, started and stopped as a desktop host or CI
harness would: its ready line, its stderr, its events.

    with running_stack([Path("wrangler.toml")], data_dir) as stack:
        urllib.request.urlopen(stack.url)
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 60.0


class StackFailed(Exception):
    """serve exited or printed something other than the ready line; carries its stderr."""


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
        """SIGTERM, then the exit status (0 on a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def events(self) -> list[dict[str, Any]]:
        """The JSON lines printed after the ready line (read to the end: call after stop)."""
        assert self.process.stdout is not None
        return [json.loads(line) for line in self.process.stdout.read().splitlines() if line]


def serve_command(
    configs: Sequence[Path],
    data_dir: Path,
    port: int = 0,
    extra: Sequence[str] = (),
    command: str = "serve",
) -> list[str]:
    argv = [sys.executable, "-m", "groundflare", command, "--data-dir", str(data_dir)]
    argv += ["--port", str(port)]
    for config in configs:
        argv += ["-c", str(config)]
    return [*argv, *extra]


def start_stack(
    configs: Sequence[Path],
    data_dir: Path,
    *,
    port: int = 0,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    stderr_path: Path | None = None,
    command: str = "serve",
) -> RunningStack:
    """Start serve (or `command="dev"`) and wait for its ready line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = stderr_path or data_dir.parent / f"{data_dir.name}.serve-stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            serve_command(configs, data_dir, port, extra, command),
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    line = b""
    while not line and time.monotonic() < deadline and process.poll() is None:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        if readable:
            line = process.stdout.readline()
    if process.poll() is None and not line:
        process.kill()
    if not line:
        process.wait()
        raise StackFailed(stderr_path.read_text(encoding="utf-8", errors="replace"))
    ready = json.loads(line)
    if ready.get("event") != "ready":
        process.wait(30)
        raise StackFailed(f"{line.decode().strip()}\n{stderr_path.read_text(errors='replace')}")
    return RunningStack(process=process, ready=ready, data_dir=data_dir, stderr_path=stderr_path)


@contextmanager
def running_stack(
    configs: Sequence[Path], data_dir: Path, **options: Any
) -> Iterator[RunningStack]:
    stack = start_stack(configs, data_dir, **options)
    try:
        yield stack
    finally:
        stack.stop()
