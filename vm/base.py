"""What all backends share: the Backend interface, readiness by /health, a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from groundflare.vm import qmp
from groundflare.vm.boot import BootReport, boot
from groundflare.vm.console import Console, Sink
from groundflare.vm.health import wait_healthy
from groundflare.vm.image import Image
from groundflare.vm.launch import LaunchSpec, Network
from groundflare.vm.resources import Mount, VmResources

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 5.0


class BaseBackend(ABC):
    """One way of running the guest image on this host."""

    name = "base"

    @abstractmethod
    def command(
        self,
        image: Image,
        resources: VmResources,
        mounts: Sequence[Mount],
        network: Network,
        run_dir: Path,
        sandbox_token: str,
        state_dir: Path | None = None,
        snapshots: Path | None = None,
    ) -> LaunchSpec:
        """The process to start and the files to write first (LaunchSpec.prepare()).

        `state_dir`: where per-profile state lives (the writable disk); `snapshots`: where
        snapshots of the booted guest are kept (None: every boot is cold)."""

    async def readiness(
        self,
        launch: LaunchSpec,
        exited: Awaitable[object],
        sink: Sink,
        timeout: float = READY_TIMEOUT_SECONDS,
        on_console: Callable[[Console], None] | None = None,
    ) -> BootReport:
        """Drive the started VM until its sandbox answers its health path; NotReady if not.

        With a console channel (QEMU) the guest is restored or snapshotted and keyed first
        (vm/boot.py); the console's lines go to `sink`."""
        if launch.console_socket is not None:
            return await boot(launch, sink, exited, timeout, on_console)
        assert launch.health is not None
        seconds = await wait_healthy(launch.health, timeout, exited)
        return BootReport(restored=False, saved=False, keyed_seconds=0.0, seconds=seconds)

    async def graceful_stop(
        self,
        launch: LaunchSpec,
        exited: Awaitable[object],
        timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> bool:
        """Ask the VM to go away (QMP quit); True if the process exited within the timeout.

        False means the caller must kill it (the supervisor's SIGTERM, then SIGKILL)."""
        waiter = asyncio.ensure_future(exited)
        if launch.control_socket is not None:
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                await qmp.command(launch.control_socket, "quit", timeout=min(timeout, 2.0))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            waiter.cancel()
            return False
        return True
