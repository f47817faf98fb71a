"""The sandbox microVM: image recipe, per-host backends, and the interface the supervisor uses.

Interface (see docs/vm.md for the whole story)::

    from groundflare.vm import backend_for_host, build_image, Network, free_loopback_port

    image = build_image(sandbox=Path("sandbox"), cache=default_cache())   # cached by input hash
    backend = backend_for_host()                  # QemuBackend on Linux (KVM or TCG, and why)
    launch = backend.command(image, profile.vm, profile.mounts,
                             Network(sandbox_host_port=free_loopback_port(),
                                     controlplane_url="http://127.0.0.1:8787"),
                             run_dir=data_dir.run / "vm", sandbox_token=secrets["sandbox_token"])
    launch.prepare()                               # writes the run dir (0700), before each start
    # ChildSpec(argv=list(launch.argv), env=launch.env, cwd=launch.cwd, pass_fds=launch.pass_fds)
    await backend.readiness(port, sandbox_token)   # GET /health through the forwarded port
    await backend.graceful_stop(launch, process.wait())   # QMP quit; False -> kill it

Nothing here starts processes for the stack; groundflare's supervisor does (vm.runner is
for tests, the benchmark and `groundflare vm run`). The names below are imported on first
use: the supervisor reads `groundflare.vm.resources` on every start, VM or not, and the
backends' modules are a tenth of its cold start.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groundflare.vm.accel import Accel
    from groundflare.vm.base import BaseBackend as Backend
    from groundflare.vm.errors import VmConfigError, VmUnavailable
    from groundflare.vm.health import NotReady
    from groundflare.vm.image import BuildError, Image
    from groundflare.vm.image import build as build_image
    from groundflare.vm.launch import FileToWrite, LaunchSpec, Network, RunAs
    from groundflare.vm.paths import default_cache
    from groundflare.vm.ports import free_loopback_port

# Exported name -> (module, its name there).
_EXPORTS = {
    "Accel": ("groundflare.vm.accel", "Accel"),
    "Backend": ("groundflare.vm.base", "BaseBackend"),
    "BuildError": ("groundflare.vm.image", "BuildError"),
    "FileToWrite": ("groundflare.vm.launch", "FileToWrite"),
    "Image": ("groundflare.vm.image", "Image"),
    "LaunchSpec": ("groundflare.vm.launch", "LaunchSpec"),
    "Network": ("groundflare.vm.launch", "Network"),
    "NotReady": ("groundflare.vm.health", "NotReady"),
    "RunAs": ("groundflare.vm.launch", "RunAs"),
    "VmConfigError": ("groundflare.vm.errors", "VmConfigError"),
    "VmUnavailable": ("groundflare.vm.errors", "VmUnavailable"),
    "build_image": ("groundflare.vm.image", "build"),
    "default_cache": ("groundflare.vm.paths", "default_cache"),
    "free_loopback_port": ("groundflare.vm.ports", "free_loopback_port"),
}

__all__ = [
    "Accel",
    "Backend",
    "BuildError",
    "FileToWrite",
    "Image",
    "LaunchSpec",
    "Network",
    "NotReady",
    "RunAs",
    "VmConfigError",
    "VmUnavailable",
    "backend_for_host",
    "build_image",
    "default_cache",
    "free_loopback_port",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(module), attribute)


def backend_for_host(platform: str = sys.platform) -> Backend:
    """QEMU on Linux, vfkit (Virtualization.framework) on macOS, WSL2 on Windows."""
    if platform.startswith("linux"):
        from groundflare.vm.qemu import QemuBackend

        return QemuBackend()
    if platform == "darwin":
        from groundflare.vm.vfkit import VfkitBackend

        return VfkitBackend()
    if platform == "win32":
        from groundflare.vm.wsl import WslBackend

        return WslBackend()
    from groundflare.vm.errors import VmUnavailable

    raise VmUnavailable(f"no microVM backend for {platform}")
