"""A running backend as the driver sees it: a name, a base URL, and a way to stop it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from groundflare.testing import StackFailed, start_stack


@dataclass
class Backend:
    """One host serving the benchmark Worker; `stop` must leave no process behind."""

    name: str
    url: str
    log_path: Path
    stop: Callable[[], object] = field(repr=False)


def progress(message: str) -> None:
    """Progress goes to stderr so stdout carries only the table and the JSON summary."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a backend's log, for a failure message (the temp dir is deleted after)."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def start_groundflare(wrangler_toml: Path, work_dir: Path) -> Backend:
    """`groundflare serve` on a fresh data dir, exactly as a test harness starts it."""
    progress("starting groundflare (groundflare serve)")
    started = time.perf_counter()
    log_path = work_dir / "groundflare-serve.log"
    try:
        stack = start_stack([wrangler_toml], work_dir / "groundflare-data", stderr_path=log_path)
    except StackFailed as exc:
        raise SystemExit(f"bench: groundflare failed to start:\n{exc}") from None
    elapsed = time.perf_counter() - started
    progress(f"groundflare ready at {stack.url} in {elapsed:.2f} s")
    return Backend("groundflare", stack.url, log_path, stack.stop)
