"""Cold start (issue 4): process spawn -> ready, groundflare vs Miniflare, same Worker.

groundflare: `groundflare serve` of bench/workers/stack/ (D1 + KV + R2 + a Durable Object)
until its ready line. Miniflare: node running bench/miniflare_host.mjs with the same Worker and
bindings until it prints its line right after `await mf.ready`. Each boot gets a fresh data
dir (the first start of an install, or of a test: the target is judged on these), then starts
again on the dir it left (a desktop app's next launch). The backends alternate which goes
first, and every stack is checked off the clock to really serve all four bindings. For
groundflare, where the time goes: runtime.json's timeline (bench/components.py).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench import report
from bench.backend import Backend, progress, start_groundflare
from bench.client import Client
from bench.components import Timeline, Watcher
from bench.miniflare import installed_version, start_miniflare
from bench.pair import GROUNDFLARE, MINIFLARE
from bench.worker import STACK_WORKER, WorkerConfig

TARGET_RATIO = 1.0  # groundflare/Miniflare median, at most
COMPONENTS = ("shim", "workerd")


KINDS = ("fresh", "restart")  # a new data dir; the same dir again


@dataclass
class Boots:
    """Spawn -> ready seconds per kind of boot and backend, and groundflare's timelines."""

    seconds: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    timelines: dict[str, list[Timeline]] = field(default_factory=dict)

    def spread(self, kind: str, backend: str) -> tuple[float, float, float]:
        values = self.seconds[kind][backend]
        return min(values), statistics.median(values), max(values)

    def ratio(self, kind: str) -> float:
        return self.spread(kind, GROUNDFLARE)[1] / self.spread(kind, MINIFLARE)[1]


def run(boots: int, work_dir: Path) -> report.SectionReport:
    config = WorkerConfig.load(STACK_WORKER)
    measured = Boots(
        {kind: {GROUNDFLARE: [], MINIFLARE: []} for kind in KINDS},
        {kind: [] for kind in KINDS},
    )
    for index in range(boots):
        for turn, kind in enumerate(KINDS):
            first = (index + turn) % 2 == 0
            order = (GROUNDFLARE, MINIFLARE) if first else (MINIFLARE, GROUNDFLARE)
            for name in order:
                boot_dir = work_dir / f"boot{index}"
                if name == GROUNDFLARE:
                    seconds, timeline = boot_groundflare(boot_dir)
                    measured.timelines[kind].append(timeline)
                else:
                    seconds = boot_miniflare(config, boot_dir)
                measured.seconds[kind][name].append(seconds)
            progress(
                f"cold start {index + 1}/{boots} ({kind}): "
                + ", ".join(f"{n} {measured.seconds[kind][n][-1]:.2f} s" for n in order)
            )
    meta = {"boots": boots, "miniflare_version": installed_version()}
    return report.SectionReport("Cold start (issue 4)", table(measured), summary(measured, meta))


def boot_groundflare(boot_dir: Path) -> tuple[float, Timeline]:
    watcher = Watcher(boot_dir / f"{GROUNDFLARE}-{STACK_WORKER.parent.name}")
    watcher.start()
    try:
        backend = start_groundflare(STACK_WORKER, boot_dir, quiet=True)
    finally:
        timeline = watcher.stop()
    check_and_stop(backend)
    return backend.ready_seconds, timeline


def boot_miniflare(config: WorkerConfig, boot_dir: Path) -> float:
    backend = start_miniflare(config, boot_dir, quiet=True)
    check_and_stop(backend)
    return backend.ready_seconds


def check_and_stop(backend: Backend) -> None:
    """Off the clock: the stack answers with every binding working; then it stops."""
    client = Client(backend.url)
    try:
        _, body = client.timed_get("/")
        if body.get("checksum") != 1:
            raise RuntimeError(f"{backend.name}: the stack Worker answered {body!r}")
    finally:
        client.close()
        backend.stop()


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def breakdown(timelines: list[Timeline]) -> dict[str, float | None]:
    """Medians over the boots: where groundflare's cold start goes."""
    out: dict[str, float | None] = {
        "serve_to_first_child": _median([t.first_spawn() for t in timelines])
    }
    for component in COMPONENTS:
        out[f"{component}_spawned_at"] = _median([t.spawned.get(component) for t in timelines])
        out[f"{component}_spawn_to_ready"] = _median(
            [t.ready_seconds(component) for t in timelines]
        )
        out[f"{component}_running_at"] = _median([t.running.get(component) for t in timelines])
    return out


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def table(measured: Boots) -> str:
    header = ["boot", "min", "median", "max", f"ratio ({GROUNDFLARE}/{MINIFLARE})", "target"]
    what = {
        GROUNDFLARE: "spawn -> ready line (D1+KV+R2+DO)",
        MINIFLARE: "spawn -> `await mf.ready`",
    }
    body = []
    for kind in KINDS:
        ratio = measured.ratio(kind)
        for name in (GROUNDFLARE, MINIFLARE):
            row = [f"{kind}: {name} {what[name]}"]
            row += [f"{v:.2f} s" for v in measured.spread(kind, name)]
            if name == GROUNDFLARE:
                target = f"<= {TARGET_RATIO:.2f} {report.verdict(ratio, TARGET_RATIO)}"
                row += [f"{ratio:.2f}", target if kind == "fresh" else ""]
            else:
                row += ["", ""]
            body.append(row)
    steps = []
    for kind in KINDS:
        parts = breakdown(measured.timelines[kind])
        steps.append(
            [
                f"{kind}: serve spawned -> its first child spawned (imports, config, profile)",
                _s(parts["serve_to_first_child"]),
            ]
        )
        for component in COMPONENTS:
            steps.append(
                [
                    f"{kind}: {component} spawned at / spawn -> ready / running at",
                    f"{_s(parts[f'{component}_spawned_at'])} / "
                    f"{_s(parts[f'{component}_spawn_to_ready'])} / "
                    f"{_s(parts[f'{component}_running_at'])}",
                ]
            )
    return "\n".join(
        [
            report.pipe_table(header, body),
            f"ratio < 1: {GROUNDFLARE} is ready sooner (medians); the target is judged on fresh"
            " data dirs",
            "",
            f"Where {GROUNDFLARE}'s time goes (medians, seconds since serve was spawned;"
            " spawn times at 10 ms resolution):",
            report.pipe_table(["step", "time"], steps),
        ]
    )


def summary(measured: Boots, meta: dict[str, object]) -> str:
    kinds = {}
    for kind in KINDS:
        ratio = measured.ratio(kind)
        kinds[kind] = {
            "seconds_min_median_max": {
                name: [round(v, 3) for v in measured.spread(kind, name)]
                for name in (GROUNDFLARE, MINIFLARE)
            },
            "ratio_median": round(ratio, 3),
            "groundflare_breakdown": {
                k: None if v is None else round(v, 3)
                for k, v in breakdown(measured.timelines[kind]).items()
            },
        }
    fresh = measured.ratio("fresh")
    body = {
        "bench": "cold_start",
        **meta,
        **kinds,
        "target_ratio_max": TARGET_RATIO,
        "target_met": fresh <= TARGET_RATIO,
    }
    return json.dumps(body)
