"""Run one VM outside the supervisor (tests, `make bench`).

It starts the LaunchSpec the way the supervisor's Child does (own process group, the
parent-death signal, QEMU's own output to a log file) and boots it with the same
`readiness()` the supervisor uses, so what is tested is what runs. Synchronous on purpose:
tests and the benchmark drive it from plain code, while its own event loop, on a thread,
keeps pumping the guest console into a file for as long as the VM runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

from groundflare.contracts.host import child_start_options
from groundflare.vm.base import BaseBackend
from groundflare.vm.boot import BootReport
from groundflare.vm.launch import LaunchSpec

POLL_SECONDS = 0.02
T = TypeVar("T")


class VmProcess:
    """A started VM; `stop()` leaves nothing behind (QEMU and its socat children)."""

    def __init__(
        self,
        backend: BaseBackend,
        launch: LaunchSpec,
        process: subprocess.Popen[bytes],
        started: float,
        console_log: Path,
    ) -> None:
        self.backend = backend
        self.launch = launch
        self.process = process
        self.started = started  # time.monotonic() just before the process was created
        self.console_log = console_log
        self.report: BootReport | None = None
        self._console: TextIO | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, backend: BaseBackend, launch: LaunchSpec, log_path: Path) -> VmProcess:
        """Start QEMU; its own output goes to `log_path`, the guest console beside it."""
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
                **child_start_options(),
            )
        return cls(backend, launch, process, started, log_path.with_name("console.log"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def exited(self) -> int:
        """Completes when the process has exited (for readiness to fail fast)."""
        # A Popen offers no awaitable exit; polling every 20 ms is cheap and bounded.
        while (code := self.process.poll()) is None:  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
        return code

    def ready(self, timeout: float = 60.0) -> float:
        """Seconds from process start until the sandbox answered (NotReady if it never does)."""
        self._console = console = self.console_log.open("a", encoding="utf-8")

        def sink(line: str) -> None:
            console.write(line + "\n")
            console.flush()

        self.report = self._run(self.backend.readiness(self.launch, self.exited(), sink, timeout))
        return time.monotonic() - self.started

    def stop(self, timeout: float = 5.0) -> int:
        """Graceful stop (QMP quit), then SIGKILL to the process group; the exit status."""
        if self.process.poll() is None:
            graceful = self._run(self.backend.graceful_stop(self.launch, self.exited(), timeout))
            if not graceful:
                self._kill_group()
        code = self.process.wait()
        self._kill_group()  # a guestfwd's socat may still be finishing a connection
        self._run(_finish_tasks())  # the console's pump
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._console is not None:
            self._console.close()
        return code

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


async def _finish_tasks() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
