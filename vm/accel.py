"""Which accelerator QEMU can really use here, and why.

`/dev/kvm` alone proves nothing: on this project's machines it comes from `kvm_pvm`, a
nested PVM hypervisor that starts a stock kernel without complaint and then crawls at
instruction-emulation speed until it dies (shared/specs/microvm-notes.md, section 8).
KVM counts as usable only with hardware virtualisation (vmx/svm) and kvm_intel/kvm_amd.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ACCEL_ENV = "GROUNDFLARE_VM_ACCEL"  # "kvm" or "tcg": force one (for experiments)


@dataclass(frozen=True)
class Accel:
    kind: Literal["kvm", "tcg"]
    reason: str


@dataclass(frozen=True)
class Host:
    """Where detection looks; tests point these at fixtures."""

    dev_kvm: Path = Path("/dev/kvm")
    sys_module: Path = Path("/sys/module")
    cpuinfo: Path = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path) -> set[str]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def detect(host: Host = Host(), forced: str | None = None) -> Accel:
    """KVM only when it can run a stock Debian kernel at hardware speed; else TCG."""
    forced = forced if forced is not None else os.environ.get(ACCEL_ENV)
    match forced:
        case "kvm" | "tcg":
            return Accel(forced, f"forced by ${ACCEL_ENV}={forced}")
    if not host.dev_kvm.exists():
        return Accel("tcg", f"{host.dev_kvm} does not exist")
    vendor = {"vmx": "kvm_intel", "svm": "kvm_amd"}
    flags = cpu_flags(host.cpuinfo) & set(vendor)
    loaded = [name for name in vendor.values() if (host.sys_module / name).exists()]
    if (host.sys_module / "kvm_pvm").exists() and not loaded:
        return Accel(
            "tcg",
            f"{host.dev_kvm} is provided by kvm_pvm (a nested PVM hypervisor), which cannot "
            "run a stock kernel at hardware speed",
        )
    if not flags:
        return Accel("tcg", "the CPU shows no vmx or svm flag (no hardware virtualisation)")
    if not loaded:
        return Accel("tcg", f"{' or '.join(vendor[f] for f in sorted(flags))} is not loaded")
    if not os.access(host.dev_kvm, os.R_OK | os.W_OK):
        return Accel("tcg", f"{host.dev_kvm} is not readable and writable by us")
    return Accel("kvm", f"{loaded[0]} is loaded and the CPU has {sorted(flags)[0]}")


def tsc_khz(cpuinfo: Path = Path("/proc/cpuinfo")) -> int | None:
    """The host TSC rate for `tsc_early_khz`: TCG boots sometimes hang calibrating without it."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("cpu MHz"):
            return round(float(line.partition(":")[2]) * 1000)
    return None
