"""The macOS backend: Apple's Virtualization.framework through vfkit. NOT RUN on a Mac yet.

Same isolation idea as QEMU's restrict=on, built from vsock instead of a NIC: the guest has
no network device at all. The sandbox's port 8080 is a vsock port that vfkit exposes as a
unix socket in the run dir (a socat companion relays 127.0.0.1:<port> to it), and the only
host service the guest can reach is the control plane, through a vsock port vfkit connects
to a unix socket where a second socat companion relays to the control-plane URL. Shares are
virtio-fs; vfkit has no read-only flag, so read-only is enforced by the guest's mount only
(docs/vm.md lists what the guest image still needs for this: an arm64 kernel, virtio-pci,
vsock and virtiofs modules, and a vsock listener in the sandbox).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from groundflare.vm.accel import Accel
from groundflare.vm.base import BaseBackend
from groundflare.vm.errors import VmConfigError
from groundflare.vm.image import Image
from groundflare.vm.launch import FileToWrite, Health, LaunchSpec, Network
from groundflare.vm.mounts import guest_mounts
from groundflare.vm.overlay import GuestConfig, overlay
from groundflare.vm.resources import Mount, VmResources

VFKIT = "vfkit"
SOCAT = "socat"
GUEST_CONTROLPLANE_VSOCK_PORT = 80
SANDBOX_SOCKET = "sandbox.sock"
CONTROLPLANE_SOCKET = "controlplane.sock"
REST_SOCKET = "vfkit.sock"
CONSOLE_NAME = "console.log"
MAX_MOUNTS = 16
CMDLINE = "console=hvc0 quiet panic=-1 cryptomgr.notests"
GUEST_CONTROLPLANE_URL = f"vsock://2:{GUEST_CONTROLPLANE_VSOCK_PORT}"
GUEST_UID = 501  # the first macOS user's uid; virtio-fs shows host owners as they are


def _relay_target(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise VmConfigError(f"control plane URL {url} must be http:// on this host's loopback")
    return f"TCP:127.0.0.1:{parts.port or 80}"


class VfkitBackend(BaseBackend):
    name = "vfkit"

    def __init__(self, vfkit: str = VFKIT, socat: str = SOCAT) -> None:
        self.vfkit = vfkit
        self.socat = socat
        self.accel = Accel("kvm", "Virtualization.framework (hardware virtualisation)")

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
            controlplane_url=GUEST_CONTROLPLANE_URL,
            sandbox_token=sandbox_token,
            mounts=shares,
            sandbox_uid=GUEST_UID,
            sandbox_gid=20,
            contract=resources.sandbox,
            writable=resources.writable,
            command=image.command,
        )
        bootloader = (
            f"linux,kernel={run_dir / 'vmlinux'},initrd={run_dir / 'initrd.img'},"
            f"cmdline={shlex.quote(CMDLINE)}"
        )
        argv = [
            self.vfkit,
            "--cpus", str(resources.cpus),
            "--memory", str(resources.memory_mib),
            "--bootloader", bootloader,
            "--device", f"virtio-serial,logFilePath={run_dir / CONSOLE_NAME}",
            "--device",
            f"virtio-vsock,port={resources.sandbox.port},"
            f"socketURL={run_dir / SANDBOX_SOCKET},connect",
            "--device",
            f"virtio-vsock,port={GUEST_CONTROLPLANE_VSOCK_PORT},"
            f"socketURL={run_dir / CONTROLPLANE_SOCKET},listen",
            "--restful-uri", f"unix://{run_dir / REST_SOCKET}",
        ]  # fmt: skip
        for share, mount in zip(shares, mounts, strict=True):
            argv += ["--device", f"virtio-fs,sharedDir={mount.host_path},mountTag={share.tag}"]
        relays = (
            LaunchSpec(
                argv=(
                    self.socat,
                    f"TCP-LISTEN:{network.sandbox_host_port},bind=127.0.0.1,reuseaddr,fork",
                    f"UNIX-CONNECT:{run_dir / SANDBOX_SOCKET}",
                ),
                env={"PATH": "/usr/bin:/bin:/opt/homebrew/bin:/usr/local/bin"},
                cwd=run_dir,
            ),
            LaunchSpec(
                argv=(
                    self.socat,
                    f"UNIX-LISTEN:{run_dir / CONTROLPLANE_SOCKET},fork,mode=600",
                    _relay_target(network.controlplane_url),
                ),
                env={"PATH": "/usr/bin:/bin:/opt/homebrew/bin:/usr/local/bin"},
                cwd=run_dir,
            ),
        )
        credential = resources.sandbox.credential(sandbox_token)
        return LaunchSpec(
            argv=tuple(argv),
            env={"PATH": "/usr/bin:/bin:/opt/homebrew/bin:/usr/local/bin"},
            cwd=run_dir,
            files=(
                FileToWrite("vmlinux", (image.kernel,), mode=0o644, link=True),
                FileToWrite("initrd.img", (image.initrd, overlay(config))),
            ),
            accel=self.accel,
            console_log=run_dir / CONSOLE_NAME,
            control_socket=run_dir / REST_SOCKET,
            companions=relays,
            health=Health(network.sandbox_host_port, *credential, resources.sandbox.health_path),
            notes=("not run on macOS yet: built and unit-tested only",),
        )
