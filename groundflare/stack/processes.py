"""What every supervised child shares: how Python children start, their environment, their
readiness line, and the ChildSpec each component's restarts are built from."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from groundflare.bundle.entry import CHILD_COMMAND
from groundflare.children import Child, ChildSpec
from groundflare.contracts.layout import DataDir
from groundflare.logs import RotatingLog

READY_TIMEOUT_SECONDS = 60.0
# Only what a child needs from our environment; secrets reach it over a pipe.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")

Echo = Callable[[str, str], None]


def python_module(module: str) -> list[str]:
    """`python -m module`, isolated: neither the working directory (the data dir's `run/`,
    where anything may be planted) nor PYTHON* variables decide what it imports. A frozen
    bundle has no `python -m`: its own executable runs the module (groundflare/bundle/entry.py)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_COMMAND, module]
    return [sys.executable, "-I", "-u", "-m", module]


def base_env() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSED_ENV if name in os.environ}


async def announced_listening(child: Child) -> None:
    """Readiness of the shim and the proxy: their one `listen` line on the control fd."""
    await child.wait_for(lambda e: e.get("event") == "listen", READY_TIMEOUT_SECONDS)


def plain_echo(component: str, line: str) -> None:
    sys.stderr.write(f"[{component}] {line}\n")
    sys.stderr.flush()


class ChildSpecs:
    """Builds each component's ChildSpec: its log file (kept across restarts), its echo."""

    def __init__(self, data_dir: DataDir, echo: Echo, die_with_parent: bool = True) -> None:
        self._data_dir = data_dir
        self._echo = echo
        self._die_with_parent = die_with_parent
        self.logs: dict[str, RotatingLog] = {}

    def __call__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        fds: tuple[int, ...] = (),
        cwd: Path | None = None,
        secrets: dict[str, str] | None = None,
    ) -> ChildSpec:
        log = self.log(name)
        return ChildSpec(
            name=name,
            argv=argv,
            env=env,
            cwd=cwd or self._data_dir.run,
            log=log,
            echo=self._echo,
            pass_fds=fds,
            secrets=secrets or {},
            die_with_parent=self._die_with_parent,
        )

    def log(self, name: str) -> RotatingLog:
        """`logs/<name>.log`, rotated, kept across restarts (closed by close())."""
        if name not in self.logs:
            self.logs[name] = RotatingLog(self._data_dir.log_file(name))
        return self.logs[name]

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
