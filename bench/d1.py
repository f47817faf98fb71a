"""D1: point query, single-row INSERT, batch, scan (bench/workers/d1/).

The measuring loop is bench/latency.py's, shared with the KV, R2 and Durable Object sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.client import Client
from bench.latency import Result, Scenario, measure, setup
from bench.miniflare import installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, side_by_side
from bench.worker import D1_WORKER

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("point", 2000, "us", "SELECT ... WHERE id = ? .first()"),
    Scenario("insert", 1000, "us", "single-row INSERT .run()"),
    Scenario("batch", 5, "ms", "db.batch() of 1000 INSERTs"),
    Scenario("scan", 5, "ms", "SELECT 10,000 rows .all()"),
)


def run_all(
    clients: dict[str, Client], reps: int, scenarios: Sequence[Scenario] = SCENARIOS
) -> list[dict[str, Result]]:
    """Create and seed the tables, then every scenario in turn."""
    setup(clients)
    return [measure(scenario, clients, reps) for scenario in scenarios]


def run(reps: int, work_dir: Path) -> report.SectionReport:
    """Both backends on the D1 Worker, every scenario, the table and the summary line."""
    with side_by_side(D1_WORKER, work_dir) as pair:
        rows = run_all(pair.clients, reps)
    report.warn_mismatches(rows, GROUNDFLARE)
    meta = {"reps": reps, "miniflare_version": installed_version()}
    return report.SectionReport(
        "D1",
        report.table(rows, GROUNDFLARE, MINIFLARE),
        report.summary(rows, GROUNDFLARE, MINIFLARE, meta),
    )
