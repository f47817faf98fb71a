"""The sandbox microVM as one more supervised component (vm/ builds and launches it).

QEMU's readiness is vm's boot: the guest restored from its snapshot (or booted cold, the
snapshot taken on the way), keyed with this run's token, and the sandbox's health path
answering through the forwarded port. The port is picked once per run and kept across
restarts, so the proxy's upstream and the Workers' SANDBOX_URL stay true. The image is built
(or found in the cache) before any child starts. The guest console goes to the rotated
`logs/vm-console.log`.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from groundflare.bundle.layout import installed
from groundflare.children import Child, ChildSpec
from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.contracts.layout import DataDir
from groundflare.contracts.sandbox import SandboxAddress
from groundflare.logs import RotatingLog
from groundflare.paths import write_private
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
from groundflare.vm.console import Console
from groundflare.vm.reference_sandbox import build_reference_sandbox
from groundflare.vm.resources import Mount, VmResources, WorkerBindings
from groundflare.workerd_config.model import BindingModel, SecretBinding, Stack, TextBinding

log = logging.getLogger("groundflare")
READY_TIMEOUT_SECONDS = 120.0
CONSOLE_LOG = "vm-console"
# workerd's environment variable for the token binding (never rendered into the config).
TOKEN_ENV = "GROUNDFLARE_SANDBOX_INTERNAL_TOKEN"


def kvm_usable() -> tuple[bool, str]:
    accel = detect()
    return accel.kind == "kvm", accel.reason


def _progress(message: str) -> None:
    sys.stderr.write(f"[vm] {message}\n")
    sys.stderr.flush()


@dataclass
class SandboxVm:
    """What every (re)start of the VM is built from, and the current boot's console."""

    backend: Backend
    image: Image
    resources: VmResources
    mounts: list[Mount]
    network: Network
    run_dir: Path
    state_dir: Path
    token: str
    launch: LaunchSpec | None = None
    consoles: list[Console] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.network.sandbox_host_port

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.upstream}"

    def address(self) -> SandboxAddress:
        contract = self.resources.sandbox
        return SandboxAddress(
            url=self.url,
            token=self.token,
            header=contract.header,
            scheme=contract.scheme,
            pty_path=contract.pty_path,
        )

    def plan(self) -> LaunchSpec:
        """This start's command: restore the snapshot if there is one by now, else take it."""
        self.launch = self.backend.command(
            self.image,
            self.resources,
            self.mounts,
            self.network,
            self.run_dir,
            self.token,
            state_dir=self.state_dir,
            snapshots=default_cache() / "snapshots",
        )
        return self.launch


def prepare_vm(profile: Profile, data_dir: DataDir, token: str, controlplane_url: str) -> SandboxVm:
    """Build (or reuse) the image and check the QEMU command; StartFailure says what is
    missing. Writes run/sandbox.json for `groundflare vm shell`."""
    try:
        image = _image(profile)
        vm = SandboxVm(
            backend=backend_for_host(),
            image=image,
            resources=profile.vm,
            mounts=list(profile.mounts),
            network=Network(free_loopback_port(), controlplane_url),
            run_dir=data_dir.run / "vm",
            state_dir=data_dir.vm_state,
            token=token,
        )
        launch = vm.plan()
    except (BuildError, VmUnavailable, OSError) as exc:
        raise StartFailure("vm", str(exc), FailureClass.MISSING) from exc
    except VmConfigError as exc:
        raise StartFailure("vm", str(exc), FailureClass.CONFIG) from exc
    if launch.accel is not None:
        log.info("sandbox VM uses %s: %s", launch.accel.kind, launch.accel.reason)
    write_private(data_dir.sandbox_json, vm.address().model_dump_json().encode("utf-8"))
    return vm


def _image(profile: Profile) -> Image:
    """The image a sidecar bundle ships (`groundflare bundle --with-vm`), unless the profile
    asks for another; otherwise built (or found in the cache)."""
    bundle = installed()
    shipped = bundle.vm_image if bundle is not None else None
    contract = profile.vm.sandbox
    if shipped is not None and contract.path is None and profile.vm.image == "minimal":
        return Image.load(shipped)
    sandbox = contract.path or build_reference_sandbox(default_cache())
    packages = profile.vm.all_packages() if profile.vm.image == "dev-tools" else None
    return build_image(
        sandbox, default_cache(), progress=_progress, packages=packages, command=contract.command
    )


def sandbox_bindings(
    stack: Stack, vm: SandboxVm, bindings: WorkerBindings | None
) -> tuple[Stack, dict[str, str]]:
    """The stack with the sandbox's URL (text) and this run's token (secret, through
    workerd's environment) bound in the Workers the profile names; and that environment."""
    if bindings is None or not (bindings.url or bindings.token):
        return stack, {}
    names = {w.name for w in stack.workers}
    unknown = sorted(set(bindings.workers) - names)
    if unknown:
        raise StartFailure(
            "vm",
            f"vm.bindings.workers names no Worker of this stack: {', '.join(unknown)} "
            f"(have {', '.join(sorted(names))})",
            FailureClass.CONFIG,
        )
    added: list[BindingModel] = []
    if bindings.url:
        added.append(TextBinding(name=bindings.url, value=vm.url))
    if bindings.token:
        added.append(SecretBinding(name=bindings.token, env=TOKEN_ENV))
    replaced = {b.name for b in added}
    workers = [
        worker.model_copy(
            update={"bindings": [b for b in worker.bindings if b.name not in replaced] + added}
        )
        if not bindings.workers or worker.name in bindings.workers
        else worker
        for worker in stack.workers
    ]
    return stack.model_copy(update={"workers": workers}), {TOKEN_ENV: vm.token}


def vm_component(vm: SandboxVm, specs: ChildSpecs, console_log: RotatingLog) -> ComponentSpec:
    def child() -> ChildSpec:
        launch = vm.plan()
        launch.prepare()
        return specs("vm", list(launch.argv), dict(launch.env), launch.pass_fds, launch.cwd)

    async def ready(child: Child) -> None:
        assert vm.launch is not None
        for old in vm.consoles:
            old.close()
        vm.consoles.clear()
        try:
            report = await vm.backend.readiness(
                vm.launch,
                child.exited(),
                console_log.write_line,
                timeout=READY_TIMEOUT_SECONDS,
                on_console=vm.consoles.append,
            )
        except NotReady as exc:
            raise StartFailure("vm", child.last_words(str(exc)), FailureClass.NOT_READY) from exc
        how = "restored from its snapshot" if report.restored else "booted cold"
        saved = ", snapshot saved" if report.saved else ""
        log.info("sandbox VM %s in %.2f s%s", how, report.seconds, saved)

    return ComponentSpec("vm", child, ready)
