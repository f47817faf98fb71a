"""KV (issue 3): 1 KiB put and get latency per call, and one list() of 1,000 keys.

Same Worker (bench/workers/kv/) on both backends, interleaved; target: per-call latency at
most Miniflare's (ratio <= 1).
"""

from __future__ import annotations

from pathlib import Path

from bench import latency, report
from bench.miniflare import installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, side_by_side
from bench.worker import KV_WORKER

SCENARIOS: tuple[latency.Scenario, ...] = (
    latency.Scenario("put", 1000, "us", "1 KiB put()", target=1.0),
    latency.Scenario("get", 1000, "us", "1 KiB get()", target=1.0),
    latency.Scenario("list", 20, "ms", "list() returning 1,000 keys", target=1.0),
)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    """Seed 100 values to get and 1,000 keys to list, then every scenario."""
    with side_by_side(KV_WORKER, work_dir) as pair:
        latency.setup(pair.clients)
        rows = latency.run_all(pair.clients, reps, SCENARIOS)
    report.warn_mismatches(rows, GROUNDFLARE)
    meta = {"reps": reps, "miniflare_version": installed_version()}
    return report.SectionReport(
        "KV (issue 3)",
        report.table(rows, GROUNDFLARE, MINIFLARE),
        report.summary(rows, GROUNDFLARE, MINIFLARE, meta, bench="kv"),
    )
