"""Durable Objects (issue 4): N sequential increments of one counter through a stub, by RPC
and by fetch.

Same Worker (bench/workers/do/, a SQLite-backed class from [[migrations]]) on both backends,
interleaved. Both run the object inside workerd with its own local disk storage, so the
target is parity: a ratio within noise of 1 (at most 1.10 here). groundflare pins a newer
workerd than the one Miniflare bundles, so a third backend, groundflare on Miniflare's own
workerd binary, tells the workerd build apart from what groundflare does around it.
"""

from __future__ import annotations

from pathlib import Path

from bench import latency, report
from bench.backend import workerd_version
from bench.miniflare import bundled_workerd, installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, side_by_side
from bench.worker import DO_WORKER
from groundflare.native_tools import find_workerd

WITHIN_NOISE = 1.10
REPS = 15  # short requests, many: parity is a fine line to draw on a noisy machine
CONTROL = "gf@mf-workerd"

SCENARIOS: tuple[latency.Scenario, ...] = (
    latency.Scenario("rpc", 1000, "us", "stub.increment(), RPC", WITHIN_NOISE, REPS),
    latency.Scenario("fetch", 1000, "us", "stub.fetch(), HTTP to the object", WITHIN_NOISE, REPS),
)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    theirs = bundled_workerd()
    with side_by_side(DO_WORKER, work_dir, controls={CONTROL: theirs}) as pair:
        rows = latency.run_all(pair.clients, reps, SCENARIOS)
    report.warn_mismatches(rows, GROUNDFLARE)
    versions = {
        GROUNDFLARE: workerd_version(find_workerd().path),
        MINIFLARE: workerd_version(theirs),
    }
    meta = {"reps": REPS, "miniflare_version": installed_version(), "workerd": versions}
    note = (
        f"workerd builds: {GROUNDFLARE} {versions[GROUNDFLARE]}, {MINIFLARE} and {CONTROL}"
        f" {versions[MINIFLARE]}"
    )
    return report.SectionReport(
        "Durable Objects (issue 4)",
        report.table(rows, GROUNDFLARE, MINIFLARE, (CONTROL,)) + "\n" + note,
        report.summary(
            rows, GROUNDFLARE, MINIFLARE, meta, bench="durable_objects", controls=(CONTROL,)
        ),
    )
