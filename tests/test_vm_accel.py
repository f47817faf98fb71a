"""KVM only where it really runs a stock kernel; TCG otherwise, always with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundflare.vm.accel import Host, detect, tsc_khz


def host(tmp_path: Path, modules: list[str], flags: str, dev_kvm: bool = True) -> Host:
    sys_module = tmp_path / "module"
    for name in modules:
        (sys_module / name).mkdir(parents=True)
    sys_module.mkdir(exist_ok=True)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\ncpu MHz\t\t: 2596.122\nflags\t\t: fpu sse2 {flags}\n")
    kvm = tmp_path / "kvm"
    if dev_kvm:
        kvm.write_text("")
    return Host(dev_kvm=kvm, sys_module=sys_module, cpuinfo=cpuinfo)


def test_kvm_with_vmx_and_kvm_intel(tmp_path: Path) -> None:
    found = detect(host(tmp_path, ["kvm", "kvm_intel"], "vmx"), forced="")
    assert found.kind == "kvm"
    assert "kvm_intel" in found.reason


def test_kvm_with_svm_and_kvm_amd(tmp_path: Path) -> None:
    assert detect(host(tmp_path, ["kvm", "kvm_amd"], "svm"), forced="").kind == "kvm"


def test_pvm_nested_hypervisor_means_tcg(tmp_path: Path) -> None:
    """This project's machines: /dev/kvm from kvm_pvm, no vmx/svm."""
    found = detect(host(tmp_path, ["kvm", "kvm_pvm"], ""), forced="")
    assert found.kind == "tcg"
    assert "kvm_pvm" in found.reason


def test_no_dev_kvm_means_tcg(tmp_path: Path) -> None:
    found = detect(host(tmp_path, ["kvm_intel"], "vmx", dev_kvm=False), forced="")
    assert (found.kind, "does not exist" in found.reason) == ("tcg", True)


def test_cpu_flag_without_the_module_means_tcg(tmp_path: Path) -> None:
    found = detect(host(tmp_path, ["kvm"], "vmx"), forced="")
    assert found.kind == "tcg"
    assert "kvm_intel is not loaded" in found.reason


def test_module_without_cpu_flags_means_tcg(tmp_path: Path) -> None:
    found = detect(host(tmp_path, ["kvm", "kvm_intel"], ""), forced="")
    assert found.kind == "tcg"
    assert "vmx or svm" in found.reason


@pytest.mark.parametrize("forced", ["kvm", "tcg"])
def test_the_environment_can_force_one(tmp_path: Path, forced: str) -> None:
    found = detect(host(tmp_path, ["kvm_pvm"], ""), forced=forced)
    assert found.kind == forced
    assert "forced" in found.reason


def test_tsc_rate_comes_from_cpuinfo(tmp_path: Path) -> None:
    assert tsc_khz(host(tmp_path, [], "").cpuinfo) == 2596122
    assert tsc_khz(tmp_path / "missing") is None


def test_this_host_is_detected_with_a_reason() -> None:
    found = detect()
    assert found.kind in ("kvm", "tcg")
    assert found.reason
