"""Run one VM outside the supervisor (tests, `make bench`, `groundflare vm run`).

It starts the LaunchSpec the way the supervisor's Child does (own process group, the
parent-death signal, QEMU's own output to a log file), so what is tested is what runs.
Synchronous on purpose: tests and the benchmark drive it from plain code; the backend's
async readiness and stop run in short event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from groundflare.vm.base import BaseBackend
from groundflare.vm.launch import LaunchSpec

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.02


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class VmProcess:
    """A started VM; `stop()` leaves nothing behind (QEMU and its socat children)."""

    def __init__(
        self,
        backend: BaseBackend,
        launch: LaunchSpec,
        process: subprocess.Popen[bytes],
        started: float,
    ) -> None:
        self.backend = backend
        self.launch = launch
        self.process = process
        self.started = started  # time.monotonic() just before the process was created

    @classmethod
    def start(cls, backend: BaseBackend, launch: LaunchSpec, log_path: Path) -> VmProcess:
        launch.prepare()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            started = time.monotonic()
            process = subprocess.Popen(
                launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=launch.env,
                cwd=launch.cwd,
                pass_fds=launch.pass_fds,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return cls(backend, launch, process, started)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def exited(self) -> int:
        """Completes when the process has exited (for readiness to fail fast)."""
        # A Popen offers no awaitable exit; polling every 20 ms is cheap and bounded.
        while (code := self.process.poll()) is None:  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
        return code

    def ready(self, port: int, token: str, timeout: float = 60.0) -> float:
        """Seconds from process start until /health answered (NotReady if it never does)."""
        asyncio.run(self.backend.readiness(port, token, timeout, exited=self.exited()))
        return time.monotonic() - self.started

    def stop(self, timeout: float = 5.0) -> int:
        """Graceful stop (QMP quit), then SIGKILL to the process group; the exit status."""
        if self.process.poll() is None:
            graceful = asyncio.run(self.backend.graceful_stop(self.launch, self.exited(), timeout))
            if not graceful:
                self._kill_group()
        code = self.process.wait()
        self._kill_group()  # a guestfwd's socat may still be finishing a connection
        return code

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
