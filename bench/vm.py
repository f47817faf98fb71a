"""The microVM boot benchmark: process start -> the sandbox's /health answering, and RSS.

Boots the reference-sandbox image `boots` times, one after another, exactly as the
supervisor will (vm.runner starts the backend's LaunchSpec), and reports min / median / max
of the boot time and of QEMU's resident memory (VmRSS, read once the sandbox answers and
the guest has settled). A benchmark, not a test: it fails only if a boot fails.
"""

from __future__ import annotations

import json
import re
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.backend import progress
from bench.report import SectionReport
from groundflare.profile import VmResources
from groundflare.vm import (
    Image,
    Network,
    backend_for_host,
    build_image,
    default_cache,
    free_loopback_port,
)
from groundflare.vm.reference_sandbox import build_reference_sandbox
from groundflare.vm.runner import VmProcess

BOOTS = 5
SETTLE_SECONDS = 0.3
# Targets under TCG (docs/vm.md); under KVM expect far less time.
TARGET_MEDIAN_SECONDS = 2.0
TARGET_RSS_MIB = 260


@dataclass
class Boot:
    seconds: float
    rss_mib: float


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def boot_once(image: Image, work: Path, index: int) -> Boot:
    backend = backend_for_host()
    port = free_loopback_port()
    token = secrets.token_urlsafe(32)
    launch = backend.command(
        image, VmResources(), [], Network(port, "http://127.0.0.1:9"), work / f"boot{index}", token
    )
    vm = VmProcess.start(backend, launch, work / f"boot{index}.log")
    try:
        seconds = vm.ready(port, token)
        time.sleep(SETTLE_SECONDS)
        return Boot(seconds, rss_mib(vm.pid))
    finally:
        vm.stop()


def spread(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def run(boots: int = BOOTS) -> SectionReport:
    from groundflare.vm.qemu import QemuBackend

    backend = backend_for_host()
    accel = backend.accel if isinstance(backend, QemuBackend) else None
    progress("building (or reusing) the image with the reference sandbox")
    image = build_image(build_reference_sandbox(default_cache()), default_cache(), progress)
    results = []
    with tempfile.TemporaryDirectory(prefix="groundflare-bench-vm-") as tmp:
        for index in range(boots):
            result = boot_once(image, Path(tmp), index)
            progress(
                f"vm boot {index + 1}/{boots}: {result.seconds:.2f} s, {result.rss_mib:.0f} MiB"
            )
            results.append(result)
    seconds = spread([r.seconds for r in results])
    rss = spread([r.rss_mib for r in results])
    accel_text = f"{accel.kind} ({accel.reason})" if accel else backend.name
    lines = [
        f"microVM ({accel_text}), {boots} boots, VmResources() defaults",
        "| measure | min | median | max | target (TCG) |",
        "|---|---|---|---|---|",
        f"| boot: process start -> /health | {seconds[0]:.2f} s | {seconds[1]:.2f} s "
        f"| {seconds[2]:.2f} s | median <= {TARGET_MEDIAN_SECONDS} s |",
        f"| QEMU RSS | {rss[0]:.0f} MiB | {rss[1]:.0f} MiB | {rss[2]:.0f} MiB "
        f"| <= {TARGET_RSS_MIB} MiB |",
    ]
    summary = {
        "bench": "vm",
        "accel": accel.kind if accel else backend.name,
        "boots": boots,
        "boot_seconds": [round(v, 3) for v in seconds],
        "rss_mib": [round(v, 1) for v in rss],
        "targets": {"median_seconds": TARGET_MEDIAN_SECONDS, "rss_mib": TARGET_RSS_MIB},
    }
    return SectionReport("microVM", "\n".join(lines), json.dumps(summary))
