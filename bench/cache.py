"""The Cache API (issue 10): caches.default.match() of a 1 KiB response, hit and miss.

Same Worker (bench/workers/cache/) on both backends, interleaved; groundflare keeps the
cache in the data dir, Miniflare in its own persistence (its default).
"""

from __future__ import annotations

from pathlib import Path

from bench import latency, report
from bench.miniflare import installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, side_by_side
from bench.worker import CACHE_WORKER

SCENARIOS: tuple[latency.Scenario, ...] = (
    latency.Scenario("hit", 500, "us", "match() hit, 1 KiB body read"),
    latency.Scenario("miss", 500, "us", "match() miss"),
)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    with side_by_side(CACHE_WORKER, work_dir) as pair:
        latency.setup(pair.clients)
        rows = latency.run_all(pair.clients, reps, SCENARIOS)
    report.warn_mismatches(rows, GROUNDFLARE)
    meta = {"reps": reps, "miniflare_version": installed_version()}
    return report.SectionReport(
        "Cache API (issue 10)",
        report.table(rows, GROUNDFLARE, MINIFLARE),
        report.summary(rows, GROUNDFLARE, MINIFLARE, meta, bench="cache"),
    )
