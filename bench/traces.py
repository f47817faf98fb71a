"""The request log's cost (issue 14): the D1 point query and the KV get, with every
invocation recorded (the default) and with `--no-traces`, on the same Worker, interleaved.
Target: recording adds at most 10 % per call (ratio on/off <= 1.10).

Each request makes n binding calls, so its trace holds the first 256 as spans and counts the
rest (`MAX_SPANS`, shim/traces/recorder.py): the ratio includes claiming and describing them.

Two stacks started side by side differ by more than the log costs (D1 on/off ratios of one
pair ranged 1.03-1.16 from run to run, 45 requests each or 15 alike: docs/performance.md), so
each scenario measures several fresh pairs and pools their requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import latency, report
from bench.backend import start_groundflare
from bench.client import Client
from bench.worker import D1_WORKER, KV_WORKER

ON = "traces on"
OFF = "traces off"
TARGET = 1.10
# Many short requests: each alternates the two backends.
REPS = 15
PAIRS = 3

SCENARIOS: tuple[tuple[Path, latency.Scenario], ...] = (
    (
        D1_WORKER,
        latency.Scenario("point", 1000, "us", "D1 SELECT ... WHERE id = ? .first()", TARGET, REPS),
    ),
    (KV_WORKER, latency.Scenario("get", 1000, "us", "KV 1 KiB get()", TARGET, REPS)),
)


@contextmanager
def traced_and_not(worker: Path, work_dir: Path, pair: int) -> Iterator[dict[str, Client]]:
    """The same Worker on two fresh stacks: one recording its invocations, one not."""
    with ExitStack() as stack:
        clients = {}
        for name, extra in ((ON, ["--traces"]), (OFF, ["--no-traces"])):
            label = f"{name.replace(' ', '-')}-{pair}"
            backend = start_groundflare(worker, work_dir, extra=extra, name=label)
            stack.callback(backend.stop)
            clients[name] = Client(backend.url)
            stack.callback(clients[name].close)
        yield clients


def run(reps: int, work_dir: Path) -> report.SectionReport:
    rows = []
    for worker, scenario in SCENARIOS:
        runs = []
        for pair in range(PAIRS):
            with traced_and_not(worker, work_dir, pair) as clients:
                latency.setup(clients)
                runs.append(latency.measure(scenario, clients, reps))
        rows.append(latency.pooled(runs))
    report.warn_mismatches(rows, ON)
    return report.SectionReport(
        "Request log overhead (issue 14)",
        report.table(rows, ON, OFF),
        report.summary(rows, ON, OFF, {"reps": REPS, "pairs": PAIRS}, bench="traces"),
    )
