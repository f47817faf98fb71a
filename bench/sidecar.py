"""The sidecar bundle (issue 15): its size without and with the VM, and spawn -> ready of the
bundle's executable against `groundflare serve` from a virtualenv, on the built-in example.

Both bundles are built here (`groundflare bundle`, PyInstaller one folder). Each boot gets a
fresh data dir; the two alternate which goes first. The bundle runs with an empty
environment (`env -i`, HOME an empty folder), as a desktop app's installer leaves it.
"""

from __future__ import annotations

import json
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.backend import progress

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
BUNDLE, VENV = "bundle", "venv"
READY_TIMEOUT = 120.0


def folder_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def build(out: Path, *options: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "groundflare", "bundle", "--out", str(out), *options],
        check=True,
        capture_output=True,
    )
    return out


def boot(argv: list[str], cwd: Path) -> float:
    """Seconds from spawn to the ready line; the stack is then stopped (off the clock)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd
    )
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
    line = process.stdout.readline() if readable else b""
    seconds = time.perf_counter() - started
    process.send_signal(signal.SIGTERM)
    process.wait(30)
    if json.loads(line or b"{}").get("event") != "ready":
        raise RuntimeError(f"{argv[0]} did not get ready: {line!r}")
    return seconds


def run(boots: int, work: Path) -> report.SectionReport:
    progress("building the bundle without the VM, then with it")
    plain = build(work / "bundle")
    with_vm = build(work / "bundle-vm", "--with-vm")
    sizes = {
        "bundle": folder_mb(plain),
        "bundle_python_part": folder_mb(plain / "_internal") + folder_mb(plain / "groundflare"),
        "workerd": (plain / "bin" / "workerd").stat().st_size / 1e6,
        "bundle_with_vm": folder_mb(with_vm),
        "vm_part": folder_mb(with_vm / "vm"),
    }
    shutil.rmtree(with_vm)
    home = work / "home"
    home.mkdir()
    argv = {
        BUNDLE: ["env", "-i", f"HOME={home}", str(plain / "groundflare")],
        VENV: [sys.executable, "-m", "groundflare"],
    }
    seconds: dict[str, list[float]] = {BUNDLE: [], VENV: []}
    for index in range(boots):
        order = (BUNDLE, VENV) if index % 2 == 0 else (VENV, BUNDLE)
        for name in order:
            data = work / f"data-{name}-{index}"
            serve = ["serve", "-c", str(EXAMPLE), "--port", "0", "--data-dir", str(data)]
            seconds[name].append(boot([*argv[name], *serve], home))
        progress(
            f"sidecar boot {index + 1}/{boots}: "
            + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in order)
        )
    return report.SectionReport(
        "Sidecar bundle (issue 15)", table(sizes, seconds), summary(sizes, seconds)
    )


def table(sizes: dict[str, float], seconds: dict[str, list[float]]) -> str:
    size_rows = [
        ["bundle without the VM", f"{sizes['bundle']:.0f} MB"],
        [
            "  of which the frozen groundflare (executable + _internal/)",
            f"{sizes['bundle_python_part']:.0f} MB",
        ],
        ["  of which workerd", f"{sizes['workerd']:.0f} MB"],
        ["bundle with the VM", f"{sizes['bundle_with_vm']:.0f} MB"],
        ["  of which the VM kernel + initramfs", f"{sizes['vm_part']:.0f} MB"],
    ]
    boot_rows = [
        [name, *(f"{v:.2f} s" for v in (min(s), statistics.median(s), max(s)))]
        for name, s in seconds.items()
    ]
    ratio = statistics.median(seconds[BUNDLE]) / statistics.median(seconds[VENV])
    return "\n".join(
        [
            report.pipe_table(["what", "size"], size_rows),
            "",
            report.pipe_table(
                ["spawn -> ready (example, fresh data dir)", "min", "median", "max"], boot_rows
            ),
            f"ratio (bundle/venv, medians): {ratio:.2f}",
        ]
    )


def summary(sizes: dict[str, float], seconds: dict[str, list[float]]) -> str:
    return json.dumps(
        {
            "bench": "sidecar",
            "sizes_mb": {k: round(v, 1) for k, v in sizes.items()},
            "ready_seconds_min_median_max": {
                name: [round(min(s), 3), round(statistics.median(s), 3), round(max(s), 3)]
                for name, s in seconds.items()
            },
            "ratio_median": round(
                statistics.median(seconds[BUNDLE]) / statistics.median(seconds[VENV]), 3
            ),
        }
    )
