"""The sandbox microVM as one more supervised component (vm/ builds and launches it).

QEMU's readiness is the sandbox's `/health` answering through the forwarded
port, with the internal token; the sandbox proxy forwards there. The port is
picked once per boot and kept across restarts, so the proxy's upstream stays
true. The image is built (or found in the cache) before any child starts.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from groundflare.bundle.layout import installed
from groundflare.children import Child, ChildSpec
from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.profile import Profile
from groundflare.stack.processes import ChildSpecs
from groundflare.supervisor import ComponentSpec
from groundflare.vm import (
    Backend,
    BuildError,
    Image,
    LaunchSpec,
    Network,
    NotReady,
    VmConfigError,
    VmUnavailable,
    backend_for_host,
    build_image,
    default_cache,
    free_loopback_port,
)
from groundflare.vm.accel import detect
from groundflare.vm.reference_sandbox import build_reference_sandbox

log = logging.getLogger("groundflare")
READY_TIMEOUT_SECONDS = 120.0


def kvm_usable() -> tuple[bool, str]:
    accel = detect()
    return accel.kind == "kvm", accel.reason


def _progress(message: str) -> None:
    sys.stderr.write(f"[vm] {message}\n")
    sys.stderr.flush()


@dataclass
class SandboxVm:
    backend: Backend
    launch: LaunchSpec
    port: int
    token: str

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"


def prepare_vm(profile: Profile, run_dir: Path, token: str, controlplane_url: str) -> SandboxVm:
    """Build (or reuse) the image and the QEMU command; StartFailure says what is missing."""
    try:
        image = _image(profile)
        backend = backend_for_host()
        port = free_loopback_port()
        network = Network(sandbox_host_port=port, controlplane_url=controlplane_url)
        launch = backend.command(image, profile.vm, profile.mounts, network, run_dir, token)
    except (BuildError, VmUnavailable, OSError) as exc:
        raise StartFailure("vm", str(exc), FailureClass.MISSING) from exc
    except VmConfigError as exc:
        raise StartFailure("vm", str(exc), FailureClass.CONFIG) from exc
    if launch.accel is not None:
        log.info("sandbox VM uses %s: %s", launch.accel.kind, launch.accel.reason)
    return SandboxVm(backend=backend, launch=launch, port=port, token=token)


def _image(profile: Profile) -> Image:
    """The image a sidecar bundle ships (`groundflare bundle --with-vm`), unless the profile
    names its own sandbox; otherwise built (or found in the cache)."""
    bundle = installed()
    shipped = bundle.vm_image if bundle is not None else None
    if shipped is not None and profile.vm.sandbox is None:
        return Image.load(shipped)
    sandbox = profile.vm.sandbox or build_reference_sandbox(default_cache())
    return build_image(sandbox, default_cache(), progress=_progress)


def vm_component(vm: SandboxVm, specs: ChildSpecs) -> ComponentSpec:
    def child() -> ChildSpec:
        vm.launch.prepare()
        launch = vm.launch
        return specs("vm", list(launch.argv), dict(launch.env), launch.pass_fds, launch.cwd)

    async def ready(child: Child) -> None:
        try:
            await vm.backend.readiness(
                vm.port, vm.token, timeout=READY_TIMEOUT_SECONDS, exited=child.exited()
            )
        except NotReady as exc:
            raise StartFailure("vm", child.last_words(str(exc)), FailureClass.NOT_READY) from exc

    return ComponentSpec("vm", child, ready)
