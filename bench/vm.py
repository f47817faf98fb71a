"""The microVM benchmark: boot time and memory of both images, cold and from a snapshot, and
what building an image costs.

Each boot runs exactly as the supervisor's does (vm.runner starts the backend's LaunchSpec
and drives it with the same readiness): process start -> the sandbox's health path answering
with the token. Two images with the profile's defaults (1 vCPU, 512 MiB, a tmpfs writable
layer): `minimal` (busybox initramfs, the reference sandbox) and `dev-tools` (the Debian root
file system of the default packages, the Go test sandbox with its own contract). For each,
`boots` cold boots (no snapshot) and `boots` boots restored from a snapshot taken by one
earlier boot into this run's own snapshot store, interleaved so both see the same machine;
QEMU's resident memory (VmRSS) is read once the sandbox answers and the guest has settled.

The image build is timed from an empty cache folder per kind, with the .debs the user cache
already holds hard-linked in (no download is timed) and the sandbox binaries prebuilt: the
unpacked kernel layer, the initramfs and (dev-tools) the mmdebstrap + mkfs.erofs root file
system are all built again. A benchmark, not a test: it fails only if a build or boot fails.
The sandbox's throughput on the real path (frontend -> proxy -> hostfwd -> guest) is the
`proxy-vm` section (bench/proxy_vm.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.backend import progress
from bench.report import SectionReport
from groundflare.vm import (
    Image,
    Network,
    backend_for_host,
    build_image,
    default_cache,
    free_loopback_port,
)
from groundflare.vm.go_sandbox import build_go_sandbox, go_contract
from groundflare.vm.qemu import QemuBackend
from groundflare.vm.reference_sandbox import build_reference_sandbox
from groundflare.vm.resources import DEFAULT_PACKAGES, SandboxContract, VmResources
from groundflare.vm.runner import VmProcess
from groundflare.vm.snapshot import STATE_FILE

BOOTS = 5
SETTLE_SECONDS = 0.3
DEB_FOLDERS = ("debs", "debs-rootfs")
# The targets for the median under TCG (docs/vm.md); under KVM expect far less.
TARGETS = {
    ("minimal", "cold"): 2.0,
    ("minimal", "snapshot"): 0.7,
    ("dev-tools", "cold"): 4.0,
    ("dev-tools", "snapshot"): 1.0,
}


@dataclass(frozen=True)
class Flavour:
    name: str
    sandbox: str
    image: Image
    resources: VmResources


@dataclass
class Boot:
    seconds: float
    rss_mib: float
    # Seconds from the boot's start to the end of each step (vm.boot.BootReport.steps).
    steps: dict[str, float] = field(default_factory=dict)


@dataclass
class Built:
    kind: str
    seconds: float
    image: Image


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def boot_once(flavour: Flavour, run_root: Path, snapshots: Path | None) -> Boot:
    backend = backend_for_host()
    launch = backend.command(
        flavour.image,
        flavour.resources,
        [],
        Network(free_loopback_port(), "http://127.0.0.1:9"),
        run_root / "vm",
        secrets.token_urlsafe(32),
        state_dir=run_root / "state",
        snapshots=snapshots,
    )
    vm = VmProcess.start(backend, launch, run_root / "qemu.log")
    try:
        seconds = vm.ready()
        time.sleep(SETTLE_SECONDS)
        report = vm.report
        return Boot(seconds, rss_mib(vm.pid), dict(report.steps) if report else {})
    finally:
        vm.stop()


def spread(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def measure(flavour: Flavour, boots: int, work: Path) -> dict[str, list[Boot]]:
    """`boots` cold boots and as many restored ones, alternating; the snapshot is taken by
    one boot before them (its time is the first boot of a new configuration)."""
    store = work / f"snapshots-{flavour.name}"
    first = boot_once(flavour, work / f"{flavour.name}-first", store)
    saved = next(store.glob(f"*/{STATE_FILE}"))
    progress(
        f"{flavour.name}: first boot (cold, snapshot saved) {first.seconds:.2f} s; "
        f"snapshot {saved.stat().st_size / 1e6:.0f} MB"
    )
    found: dict[str, list[Boot]] = {"cold": [], "snapshot": [], "first": [first]}
    for index in range(boots):
        for how, snapshots in (("cold", None), ("snapshot", store)):
            boot = boot_once(flavour, work / f"{flavour.name}-{how}{index}", snapshots)
            if how == "snapshot":
                assert "restored" in boot.steps, "the boot did not restore the snapshot"
            progress(
                f"{flavour.name} {how} boot {index + 1}/{boots}: "
                f"{boot.seconds:.2f} s, {boot.rss_mib:.0f} MiB"
            )
            found[how].append(boot)
    return found


def snapshot_bytes(work: Path, flavour: Flavour) -> int:
    return sum(p.stat().st_size for p in (work / f"snapshots-{flavour.name}").glob("*/state"))


def build_from_empty(kind: str, sandbox: Path, work: Path, contract: SandboxContract) -> Built:
    """One image built in an empty cache folder, the user cache's .debs linked in."""
    cache = work / f"cache-{kind}"
    for folder in DEB_FOLDERS:
        (cache / folder).mkdir(parents=True)
        for deb in (default_cache() / folder).glob("*.deb"):
            os.link(deb, cache / folder / deb.name)
    packages = list(DEFAULT_PACKAGES) if kind == "dev-tools" else None
    started = time.monotonic()
    image = build_image(sandbox, cache, progress, packages=packages, command=contract.command)
    return Built(kind, time.monotonic() - started, image)


def median_steps(boots: list[Boot]) -> str:
    names = list(boots[0].steps)
    return ", ".join(
        f"{name} {statistics.median(b.steps.get(name, float('nan')) for b in boots):.2f}"
        for name in names
    )


def run(boots: int, work: Path) -> SectionReport:
    backend = backend_for_host()
    accel = backend.accel if isinstance(backend, QemuBackend) else None
    progress("the sandbox binaries and the user cache's images (built once, then reused)")
    reference = build_reference_sandbox(default_cache())
    go = build_go_sandbox(default_cache())
    reference_contract = SandboxContract()
    go_sandbox_contract = go_contract(go)
    flavours = [
        Flavour(
            "minimal",
            "reference sandbox",
            build_image(reference, default_cache(), progress),
            VmResources(sandbox=reference_contract),
        ),
        Flavour(
            "dev-tools",
            "Go test sandbox",
            build_image(go, default_cache(), progress, packages=list(DEFAULT_PACKAGES)),
            VmResources(image="dev-tools", sandbox=go_sandbox_contract),
        ),
    ]
    progress("image builds from an empty cache (.debs reused)")
    builds = [
        build_from_empty("minimal", reference, work, reference_contract),
        build_from_empty("dev-tools", go, work, go_sandbox_contract),
    ]
    results = {f.name: measure(f, boots, work) for f in flavours}

    accel_text = f"{accel.kind} ({accel.reason})" if accel else backend.name
    lines = [
        f"microVM ({accel_text}), {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; {boots} boots each, 1 vCPU, 512 MiB, tmpfs writable layer",
        "",
        "| image (sandbox) | boot | process start -> health, min / median / max "
        "| target (median, TCG) | QEMU RSS, min / median / max |",
        "|---|---|---|---|---|",
    ]
    summary: dict[str, object] = {
        "bench": "vm",
        "accel": accel.kind if accel else backend.name,
        "boots": boots,
        "loadavg": round(os.getloadavg()[0], 2),
    }
    for flavour in flavours:
        found = results[flavour.name]
        first = found["first"][0]
        lines.append(
            f"| {flavour.name} ({flavour.sandbox}) | first (cold + save) | {first.seconds:.2f} s "
            f"| | {first.rss_mib:.0f} MiB |"
        )
        for how in ("cold", "snapshot"):
            seconds = spread([b.seconds for b in found[how]])
            rss = spread([b.rss_mib for b in found[how]])
            target = TARGETS[(flavour.name, how)]
            verdict = "met" if seconds[1] <= target else "MISSED"
            lines.append(
                f"| {flavour.name} ({flavour.sandbox}) | {how} | {seconds[0]:.2f} / "
                f"{seconds[1]:.2f} / {seconds[2]:.2f} s | <= {target} s: {verdict} "
                f"| {rss[0]:.0f} / {rss[1]:.0f} / {rss[2]:.0f} MiB |"
            )
            summary[f"{flavour.name}_{how}_seconds"] = [round(v, 3) for v in seconds]
            summary[f"{flavour.name}_{how}_rss_mib"] = [round(v, 1) for v in rss]
            summary[f"{flavour.name}_{how}_steps"] = median_steps(found[how])
        summary[f"{flavour.name}_first_seconds"] = round(first.seconds, 3)
        summary[f"{flavour.name}_snapshot_bytes"] = snapshot_bytes(work, flavour)
    lines += [
        "",
        "Median seconds from the boot's start to the end of each step:",
        "",
    ]
    for flavour in flavours:
        for how in ("cold", "snapshot"):
            lines.append(f"- {flavour.name} {how}: {summary[f'{flavour.name}_{how}_steps']}")
    lines += [
        "",
        "| image | build from an empty cache (.debs reused) | vmlinux | initramfs "
        "| root file system (EROFS) | snapshot |",
        "|---|---|---|---|---|---|",
    ]
    for built, flavour in zip(builds, flavours, strict=True):
        manifest = built.image.manifest
        rootfs = manifest.get("rootfs_bytes")
        rootfs_text = f"{int(str(rootfs)) / 1e6:.0f} MB" if rootfs is not None else "-"
        snap = snapshot_bytes(work, flavour)
        lines.append(
            f"| {built.kind} | {built.seconds:.1f} s | "
            f"{int(str(manifest['vmlinux_bytes'])) / 1e6:.1f} MB | "
            f"{int(str(manifest['initrd_bytes'])) / 1e6:.1f} MB | {rootfs_text} "
            f"| {snap / 1e6:.0f} MB |"
        )
        summary[f"{built.kind}_build_seconds"] = round(built.seconds, 1)
        summary[f"{built.kind}_initrd_bytes"] = manifest["initrd_bytes"]
        summary[f"{built.kind}_rootfs_bytes"] = rootfs
    summary["targets"] = {f"{name}_{how}": target for (name, how), target in TARGETS.items()}
    return SectionReport("microVM", "\n".join(lines), json.dumps(summary))
