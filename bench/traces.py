"""The request log's cost (issue 14): the D1 point query and the KV get, with every
invocation recorded (the default) and with `--no-traces`, on the same Worker, interleaved.
Target: recording adds at most 10 % per call (ratio on/off <= 1.10).

Each request makes n binding calls, so its trace holds the first 256 as spans and counts the
rest (`MAX_SPANS`, shim/traces/recorder.py): the ratio includes claiming and describing them.

Two stacks started side by side differ by more than the log costs (D1 on/off ratios of one
pair ranged 1.00-1.13, standard deviation 0.03, 45 requests each or 15 alike:
docs/performance.md), so each scenario measures several fresh pairs and pools their requests;
each pair's own ratio is printed too, so a run's spread shows beside its figure.

Beside the wall times, the CPU the two stacks' workerd and shim used over the same requests
(warm-up included, the last trace's storing waited for): whether a swing of the wall-time
ratio is the log doing more work or only where the scheduler put it. On this machine the two
ratios moved together (docs/performance.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import latency, proc, report
from bench.backend import start_groundflare
from bench.client import Client
from bench.worker import D1_WORKER, KV_WORKER

ON = "traces on"
OFF = "traces off"
TARGET = 1.10
# Many short requests: each alternates the two backends.
REPS = 15
# Six pairs: the spread between pairs (standard deviation 0.03) moves a run's figure by about
# 0.013 instead of 0.018 with three (docs/performance.md), for 1.7 more minutes.
PAIRS = 6
# The processes whose CPU the log adds to; serve only supervises.
CHARGED = ("workerd", "shim")
SETTLE_POLL_SECONDS = 0.05
SETTLE_MAX_SECONDS = 2.0

SCENARIOS: tuple[tuple[Path, latency.Scenario], ...] = (
    (
        D1_WORKER,
        latency.Scenario("point", 1000, "us", "D1 SELECT ... WHERE id = ? .first()", TARGET, REPS),
    ),
    (KV_WORKER, latency.Scenario("get", 1000, "us", "KV 1 KiB get()", TARGET, REPS)),
)


@dataclass
class CpuUse:
    """CPU seconds of each of one side's charged processes over its timed and warm-up
    requests."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CHARGED, 0.0))
    calls: int = 0

    def per_call(self, scale: float, component: str | None = None) -> float:
        """Per call of one component, or of all of them together."""
        seconds = self.seconds[component] if component else sum(self.seconds.values())
        return seconds / self.calls * scale


@dataclass
class Side:
    """One stack of a pair: its client, and the processes its CPU is read from."""

    client: Client
    pids: dict[str, int]

    def cpu(self) -> dict[str, float]:
        return {name: proc.tree_cpu_seconds([pid]) for name, pid in self.pids.items()}


@contextmanager
def traced_and_not(worker: Path, work_dir: Path, pair: int) -> Iterator[dict[str, Side]]:
    """The same Worker on two fresh stacks: one recording its invocations, one not."""
    with ExitStack() as stack:
        sides = {}
        for name, extra in ((ON, ["--traces"]), (OFF, ["--no-traces"])):
            label = f"{name.replace(' ', '-')}-{pair}"
            backend = start_groundflare(worker, work_dir, extra=extra, name=label)
            stack.callback(backend.stop)
            client = Client(backend.url)
            stack.callback(client.close)
            sides[name] = Side(client, {c: backend.component_pid(c) for c in CHARGED})
        yield sides


def settled_cpu(sides: dict[str, Side]) -> dict[str, dict[str, float]]:
    """Each side's CPU once it stops rising: a trace is claimed, described and stored after
    its request has been answered, so the last request's share comes a moment later."""
    deadline = time.monotonic() + SETTLE_MAX_SECONDS
    now = {name: side.cpu() for name, side in sides.items()}
    while time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_SECONDS)
        before, now = now, {name: side.cpu() for name, side in sides.items()}
        if now == before:
            break
    return now


def measure_pair(
    scenario: latency.Scenario, sides: dict[str, Side], reps: int, cpu: dict[str, CpuUse]
) -> dict[str, latency.Result]:
    """One pair's timed requests; their CPU is added to `cpu`."""
    clients = {name: side.client for name, side in sides.items()}
    latency.setup(clients)
    before = settled_cpu(sides)
    results = latency.measure(scenario, clients, reps)
    after = settled_cpu(sides)
    for name in sides:
        use = cpu.setdefault(name, CpuUse())
        for component in CHARGED:
            use.seconds[component] += after[name][component] - before[name][component]
        use.calls += (len(results[name].seconds) + 1) * scenario.n
    return results


def run(reps: int, work_dir: Path) -> report.SectionReport:
    rows = []
    cpu_lines = []
    cpu_per_call: dict[str, dict[str, float]] = {}
    pair_ratios: dict[str, list[float]] = {}
    for worker, scenario in SCENARIOS:
        runs = []
        cpu: dict[str, CpuUse] = {}
        for pair in range(PAIRS):
            with traced_and_not(worker, work_dir, pair) as sides:
                runs.append(measure_pair(scenario, sides, reps, cpu))
        rows.append(latency.pooled(runs))
        pair_ratios[scenario.name] = [
            round(run[ON].per_call / run[OFF].per_call, 3) for run in runs
        ]
        on, off = (cpu[name].per_call(scenario.scale) for name in (ON, OFF))
        split = {
            c: {name: round(cpu[name].per_call(scenario.scale, c), 2) for name in (ON, OFF)}
            for c in CHARGED
        }
        cpu_per_call[scenario.name] = {
            ON: round(on, 2),
            OFF: round(off, 2),
            "ratio": round(on / off, 3),
            **split,
        }
        unit = report.UNIT_LABEL[scenario.unit]
        shares = ", ".join(f"{c} {split[c][ON]:.1f} / {split[c][OFF]:.1f}" for c in CHARGED)
        cpu_lines.append(
            f"{scenario.name}: CPU per call (workerd + shim) {ON} {on:.1f} "
            f"{unit}, {OFF} {off:.1f} {unit}, ratio {on / off:.3f} (on / off: {shares}); "
            f"each pair's wall-time ratio {', '.join(map(str, pair_ratios[scenario.name]))}"
        )
    report.warn_mismatches(rows, ON)
    return report.SectionReport(
        "Request log overhead (issue 14)",
        report.table(rows, ON, OFF) + "\n" + "\n".join(cpu_lines),
        report.summary(
            rows,
            ON,
            OFF,
            {
                "reps": REPS,
                "pairs": PAIRS,
                "pair_ratios": pair_ratios,
                "cpu_per_call": cpu_per_call,
            },
            bench="traces",
        ),
    )
