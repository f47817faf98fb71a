"""A running backend as the driver sees it: a name, a base URL, and a way to stop it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundflare.testing import StackFailed, start_stack


@dataclass
class Backend:
    """One host serving the benchmark Worker; `stop` must leave no process behind."""

    name: str
    url: str
    log_path: Path
    stop: Callable[[], object] = field(repr=False)
    # Process spawn -> ready line (serve's, or the Miniflare host's after `await mf.ready`).
    ready_seconds: float = 0.0
    pid: int | None = None
    # groundflare only: its ready line and data dir (sandbox URL, tokens, runtime.json).
    ready: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None

    def component_pid(self, component: str) -> int:
        """A groundflare component's pid, from run/runtime.json as other tools discover it."""
        if self.data_dir is None:
            raise ValueError(f"{self.name} has no groundflare data dir")
        runtime = json.loads((self.data_dir / "run" / "runtime.json").read_text("utf-8"))
        return int(runtime["components"][component]["pid"])


def progress(message: str) -> None:
    """Progress goes to stderr so stdout carries only the table and the JSON summary."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a backend's log, for a failure message (the temp dir is deleted after)."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def workerd_version(binary: Path) -> str:
    """`workerd --version` ("workerd 2026-07-30"): which build a number was measured on."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def start_groundflare(
    wrangler_toml: Path,
    work_dir: Path,
    extra: Sequence[str] = (),
    quiet: bool = False,
    name: str = "groundflare",
    workerd: Path | None = None,
) -> Backend:
    """`groundflare serve` on a fresh data dir, exactly as a test harness starts it; on
    another workerd binary than its own when `workerd` is given ($GROUNDFLARE_WORKERD)."""
    worker = wrangler_toml.parent.name
    if not quiet:
        progress(f"starting {name} (groundflare serve -c {worker}/wrangler.toml)")
    log_path = work_dir / f"{name}-{worker}.log"
    data_dir = work_dir / f"{name}-{worker}"
    env = {"GROUNDFLARE_WORKERD": str(workerd)} if workerd else None
    started = time.perf_counter()
    try:
        stack = start_stack([wrangler_toml], data_dir, stderr_path=log_path, extra=extra, env=env)
    except StackFailed as exc:
        raise SystemExit(f"bench: {name} failed to start:\n{exc}") from None
    elapsed = time.perf_counter() - started
    if not quiet:
        progress(f"{name} ready at {stack.url} in {elapsed:.2f} s")
    return Backend(
        name,
        stack.url,
        log_path,
        stack.stop,
        ready_seconds=elapsed,
        pid=stack.process.pid,
        ready=stack.ready,
        data_dir=data_dir,
    )
