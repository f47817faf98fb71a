"""The Windows backend: a WSL2 distribution. NOT RUN on Windows yet.

WSL2 boots its own kernel in one utility VM shared by every distribution, so this backend
imports the image's userland as a distribution (`wsl --import`), switches off what would
reach the Windows side (drive automount, interop, the Windows PATH), and starts our init
with the per-boot config written into the distribution's folder. CPU and memory limits in
WSL are global (`.wslconfig`), not per distribution, so they are reported, not applied.
Isolation is weaker than QEMU's restrict=on: docs/vm.md says what is still missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from pathlib import Path, PureWindowsPath

from groundflare.vm.accel import Accel
from groundflare.vm.base import BaseBackend
from groundflare.vm.image import Image
from groundflare.vm.image.tar import cpio_gz_to_tar
from groundflare.vm.launch import FileToWrite, Health, LaunchSpec, Network
from groundflare.vm.mounts import guest_mounts
from groundflare.vm.overlay import GuestConfig, overlay
from groundflare.vm.resources import Mount, VmResources

WSL = "wsl.exe"
DISTRIBUTION = "groundflare-sandbox"
MAX_MOUNTS = 16
WSL_CONF = b"""[automount]
enabled = false
mountFsTab = false

[interop]
enabled = false
appendWindowsPath = false

[network]
generateHosts = false
generateResolvConf = false

[user]
default = root
"""


def wsl_config(resources: VmResources) -> bytes:
    """The `.wslconfig` section this VM wants (global to WSL: the user must merge it)."""
    return (
        f"[wsl2]\nprocessors={resources.cpus}\nmemory={resources.memory_mib}MB\n"
        "localhostForwarding=true\n"
    ).encode()


def _access(read_only: bool) -> str:
    return "ro" if read_only else "rw"


def drvfs_source(path: Path) -> str:
    """A Windows folder as drvfs wants it: C:\\\\Users\\\\me\\\\src."""
    return str(PureWindowsPath(path))


class WslBackend(BaseBackend):
    name = "wsl"

    def __init__(self, wsl: str = WSL) -> None:
        self.wsl = wsl
        self.accel = Accel("kvm", "WSL2 (Hyper-V)")

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
        shares = guest_mounts(mounts, MAX_MOUNTS)
        config = GuestConfig(
            # WSL forwards localhost both ways; the guest reaches the host's loopback port.
            controlplane_url=network.controlplane_url,
            sandbox_token=sandbox_token,
            mounts=shares,
            sandbox_uid=1000,
            sandbox_gid=1000,
            contract=resources.sandbox,
            writable=resources.writable,
            command=image.command,
        )
        install_dir = run_dir / "distribution"
        mount_lines = "".join(
            f"{drvfs_source(m.host_path)} {s.guest_path} drvfs {_access(s.read_only)} 0 0\n"
            for s, m in zip(shares, mounts, strict=True)
        )
        setup = (
            (self.wsl, "--unregister", DISTRIBUTION),
            (
                self.wsl, "--import", DISTRIBUTION, str(install_dir),
                str(run_dir / "rootfs.tar.gz"), "--version", "2",
            ),
        )  # fmt: skip
        argv = (
            self.wsl,
            "--distribution", DISTRIBUTION,
            "--user", "root",
            # WSL's own /init is PID 1 in a distribution; ours runs under another name.
            "--exec", "/bin/sh", "/init",
        )  # fmt: skip
        return LaunchSpec(
            argv=argv,
            env={},
            cwd=run_dir,
            files=(
                FileToWrite(
                    "rootfs.tar.gz", (cpio_gz_to_tar(image.initrd.read_bytes() + overlay(config)),)
                ),
                FileToWrite("wsl.conf", (WSL_CONF,), mode=0o644),
                FileToWrite("fstab", (mount_lines.encode(),), mode=0o644),
                FileToWrite("wslconfig.suggested", (wsl_config(resources),), mode=0o644),
            ),
            accel=self.accel,
            setup=setup,
            health=Health(
                network.sandbox_host_port,
                *resources.sandbox.credential(sandbox_token),
                resources.sandbox.health_path,
            ),
            notes=(
                "not run on Windows yet: built and unit-tested only",
                f"the sandbox must listen on port {network.sandbox_host_port} (WSL forwards it)",
                "CPU and memory are WSL-global: merge wslconfig.suggested into "
                "%UserProfile%\\.wslconfig",
            ),
        )

    async def graceful_stop(
        self, launch: LaunchSpec, exited: Awaitable[object], timeout: float = 5.0
    ) -> bool:
        """`wsl --terminate` stops the distribution (and with it our process)."""
        process = await asyncio.create_subprocess_exec(self.wsl, "--terminate", DISTRIBUTION)
        await process.wait()
        return await super().graceful_stop(launch, exited, timeout)
