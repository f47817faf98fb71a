"""Durable Objects (issue 4): N sequential increments of one counter through a stub, by RPC
and by fetch.

Same Worker (bench/workers/do/, a SQLite-backed class from [[migrations]]) on both backends,
interleaved. Both run the object inside workerd with its own local disk storage, so the
target is parity (issue 11: at most 1.0). Two more groundflare backends tell the causes
apart (docs/performance.md, "Durable Objects"): one with `--no-traces` (the request log's
tail Worker runs once per object call, which is most of groundflare's cost here), and one
with `--no-traces` on Miniflare's own workerd binary (the workerd build).
"""

from __future__ import annotations

from pathlib import Path

from bench import latency, report
from bench.backend import workerd_version
from bench.miniflare import bundled_workerd, installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, Control, side_by_side
from bench.worker import DO_WORKER
from groundflare.native_tools import find_workerd

WITHIN_NOISE = 1.0
REPS = 15  # short requests, many: parity is a fine line to draw on a noisy machine
NO_TRACES = "gf --no-traces"
CONTROL = "gf@mf-workerd --no-traces"

SCENARIOS: tuple[latency.Scenario, ...] = (
    latency.Scenario("rpc", 1000, "us", "stub.increment(), RPC", WITHIN_NOISE, REPS),
    latency.Scenario("fetch", 1000, "us", "stub.fetch(), HTTP to the object", WITHIN_NOISE, REPS),
)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    theirs = bundled_workerd()
    controls = {
        NO_TRACES: Control(extra=("--no-traces",)),
        CONTROL: Control(workerd=theirs, extra=("--no-traces",)),
    }
    with side_by_side(DO_WORKER, work_dir, controls=controls) as pair:
        rows = latency.run_all(pair.clients, reps, SCENARIOS)
    report.warn_mismatches(rows, GROUNDFLARE)
    versions = {
        GROUNDFLARE: workerd_version(find_workerd().path),
        MINIFLARE: workerd_version(theirs),
    }
    meta = {"reps": REPS, "miniflare_version": installed_version(), "workerd": versions}
    note = (
        f"workerd builds: {GROUNDFLARE} and {NO_TRACES} {versions[GROUNDFLARE]}, {MINIFLARE}"
        f" and {CONTROL} {versions[MINIFLARE]}; {GROUNDFLARE} records every invocation for the"
        " request log (the default)"
    )
    return report.SectionReport(
        "Durable Objects (issue 4)",
        report.table(rows, GROUNDFLARE, MINIFLARE, tuple(controls)) + "\n" + note,
        report.summary(
            rows, GROUNDFLARE, MINIFLARE, meta, bench="durable_objects", controls=tuple(controls)
        ),
    )
