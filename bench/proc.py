"""What /proc says about a backend's process: peak and current memory, CPU time.

Peak memory is the kernel's own high-water mark (VmHWM in /proc/<pid>/status), so no
sampling can miss a spike. Writing "5" to /proc/<pid>/clear_refs resets it to the current
RSS (Linux >= 4.0, for our own user's processes), so a section can measure the peak of one
phase rather than of the process's life.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MB = 1_000_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/{pid}/status has no {field}")
    return int(match.group(1))


def peak_mb(pid: int) -> float:
    """VmHWM in MB (10^6 bytes): the most RSS the process has had since start or reset."""
    return _status_kib(pid, "VmHWM") * 1024 / MB


def rss_mb(pid: int) -> float:
    """VmRSS in MB (10^6 bytes), now."""
    return _status_kib(pid, "VmRSS") * 1024 / MB


def reset_peak(pid: int) -> bool:
    """Start a new peak from the current RSS; False where the kernel refuses (then the peak
    read later is the lifetime's, an upper bound)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (10 ms resolution)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """The process and every process below it (Miniflare's workerd under node), now."""
    found = [pid]
    index = 0
    while index < len(found):
        for task in Path(f"/proc/{found[index]}/task").glob("*/children"):
            try:
                found += [int(child) for child in task.read_text(encoding="ascii").split()]
            except OSError:
                continue
        index += 1
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU time of the given processes together; one that has gone counts as nothing."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total
