"""When each groundflare component became ready, read from outside, as other tools do.

The supervisor rewrites run/runtime.json (atomically) on every state change, so a thread that
reads it every POLL_SECONDS sees each component turn "running" (and learns its pid). It reads
the file rather than comparing mtimes: two writes within the file system's timestamp
granularity would look like one. A child's spawn time comes from /proc/<pid>/stat (clock ticks
since boot, 10 ms resolution), compared with CLOCK_BOOTTIME taken at our own spawn. A read of
half a KiB per poll costs next to nothing beside a cold start.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

POLL_SECONDS = 0.002
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def spawned_at(pid: int) -> float:
    """The process's start, in seconds of CLOCK_BOOTTIME (10 ms resolution)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return int(stat.rsplit(")", 1)[1].split()[19]) / CLOCK_TICKS


@dataclass
class Timeline:
    """Seconds since `serve` was spawned, per component: its spawn, and when it was first
    seen running."""

    spawned: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)

    def first_spawn(self) -> float | None:
        """When serve started its first child: its own start-up (imports, config, profile,
        sockets) ends here."""
        return min(self.spawned.values()) if self.spawned else None

    def ready_seconds(self, component: str) -> float | None:
        """Spawn -> running of one component."""
        if component not in self.spawned or component not in self.running:
            return None
        return self.running[component] - self.spawned[component]


class Watcher:
    """Polls one data dir's runtime.json on a thread between `start` and `stop`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "run" / "runtime.json"
        self.timeline = Timeline()
        self._started = 0.0
        self._boot_started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runtime-json", daemon=True)

    def start(self) -> None:
        """Call right before spawning serve: both clocks start here."""
        self._started = time.perf_counter()
        self._boot_started = time.clock_gettime(time.CLOCK_BOOTTIME)
        self._thread.start()

    def stop(self) -> Timeline:
        self._stop.set()
        self._thread.join()
        return self.timeline

    def _run(self) -> None:
        """Reads once more after `stop`: the last component to turn running is written just
        before the ready line, often inside the last poll interval."""
        seen = b""
        stopped = False
        while not stopped:
            stopped = self._stop.wait(POLL_SECONDS)
            try:
                content = self.path.read_bytes()
                if content == seen:
                    continue
                seen = content
                runtime = json.loads(content)
            except (OSError, ValueError):
                continue
            self._record(runtime, time.perf_counter() - self._started)

    def _record(self, runtime: dict[str, object], now: float) -> None:
        line = self.timeline
        components = runtime.get("components")
        if not isinstance(components, dict):
            return
        for name, state in components.items():
            if state.get("state") != "running" or name in line.running:
                continue
            line.running[name] = now
            pid = state.get("pid")
            if isinstance(pid, int):
                with contextlib.suppress(OSError):
                    line.spawned[name] = spawned_at(pid) - self._boot_started
