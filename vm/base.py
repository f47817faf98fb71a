"""What all backends share: the Backend interface, readiness by /health, a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from pathlib import Path

from groundflare.vm import qmp
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
    ) -> LaunchSpec:
        """The process to start and the files to write first (LaunchSpec.prepare())."""

    async def readiness(
        self,
        port: int,
        sandbox_token: str,
        timeout: float = READY_TIMEOUT_SECONDS,
        exited: Awaitable[object] | None = None,
    ) -> float:
        """Wait for GET /health through the forwarded port; seconds waited. Raises NotReady."""
        return await wait_healthy(port, sandbox_token, timeout, exited)

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
