"""Integration tests (issue 13): what a test run pays, groundflare's pytest plugin against
`@cloudflare/vitest-pool-workers`, each running the equivalent test file on the same Worker
(bench/workers/stack: D1, KV, R2 and a Durable Object; every test fetches / once, which
touches all four).

Each runner is timed as a person runs it, from spawning the test command to its exit, with
1 test and with N tests (N = 200): the 1-test run is the session's start (spawn -> first
test can run, plus that test), and (T(N) - T(1)) / (N - 1) is what each further test costs,
storage reset included. For groundflare, the plugin's own reset (restore of the seed
snapshot + log capture start: the `groundflare` fixture's setup) is also reported, from
pytest's setup durations.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.backend import progress
from bench.report import SectionReport, pipe_table
from bench.worker import BENCH_DIR, STACK_WORKER

N_TESTS = 200
GROUNDFLARE = "groundflare (pytest plugin)"
VITEST = "vitest-pool-workers"
VITEST_PACKAGE = BENCH_DIR / "node_modules" / "@cloudflare" / "vitest-pool-workers"
VITEST_CLI = BENCH_DIR / "node_modules" / "vitest" / "vitest.mjs"
RUN_TIMEOUT_SECONDS = 600

PYTEST_FILE = """
import pytest

@pytest.mark.parametrize("n", range({n}))
def test_small(worker, n):
    assert worker.get("/").json()["checksum"] == 1
"""

# Records the `groundflare` fixture's setup time of each test (its storage reset).
PYTEST_CONFTEST = """
import json, os

SETUPS = []

def pytest_runtest_logreport(report):
    if report.when == "setup" and report.passed:
        SETUPS.append(report.duration * 1000)

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        with open(os.environ["BENCH_SETUPS"], "w") as out:
            json.dump(SETUPS, out)
"""

VITEST_FILE = """
import {{ exports }} from "cloudflare:workers";
import {{ expect, it }} from "vitest";

for (let n = 0; n < {n}; n++) {{
  it(`small ${{n}}`, async () => {{
    const response = await exports.default.fetch("http://example.com/");
    expect((await response.json()).checksum).toBe(1);
  }});
}}
"""

VITEST_CONFIG = """
import {{ defineConfig }} from "vitest/config";
import {{ cloudflareTest }} from "@cloudflare/vitest-pool-workers";

export default defineConfig({{
  plugins: [cloudflareTest({{ wrangler: {{ configPath: {config!r} }} }})],
}});
"""


@dataclass
class Runs:
    one: list[float]
    many: list[float]

    @property
    def start(self) -> float:
        return statistics.median(self.one)

    @property
    def total(self) -> float:
        return statistics.median(self.many)

    @property
    def per_test(self) -> float:
        return (self.total - self.start) / (N_TESTS - 1)


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return elapsed


def _pytest_project(work: Path, n: int) -> Path:
    project = work / f"pytest-{n}"
    project.mkdir(parents=True)
    (project / "pytest.ini").write_text(f"[pytest]\ngroundflare_config = {STACK_WORKER}\n")
    (project / "conftest.py").write_text(PYTEST_CONFTEST)
    (project / "test_small.py").write_text(PYTEST_FILE.format(n=n))
    return project


def _vitest_project(work: Path, n: int) -> Path:
    project = work / f"vitest-{n}"
    (project / "test").mkdir(parents=True)
    (project / "node_modules").symlink_to(BENCH_DIR / "node_modules")
    config = str(STACK_WORKER)
    (project / "vitest.config.mjs").write_text(VITEST_CONFIG.format(config=config))
    (project / "test" / "small.test.mjs").write_text(VITEST_FILE.format(n=n))
    return project


def run(reps: int, work: Path) -> SectionReport:
    setups: list[float] = []
    measured: dict[str, Runs] = {GROUNDFLARE: Runs([], [])}
    with_vitest = VITEST_PACKAGE.exists() and VITEST_CLI.exists()
    if with_vitest:
        measured[VITEST] = Runs([], [])
    else:
        progress(f"{VITEST} is not installed (bench/package.json): groundflare only")
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    vitest = ["node", str(VITEST_CLI), "run"]
    for rep in range(max(1, reps // 2)):
        for n in (1, N_TESTS):
            project = _pytest_project(work / f"rep{rep}", n)
            out = project / "setups.json"
            seconds = _timed(pytest, project, {"BENCH_SETUPS": str(out)})
            runs = measured[GROUNDFLARE]
            (runs.one if n == 1 else runs.many).append(seconds)
            if n == N_TESTS:
                setups += json.loads(out.read_text())[1:]  # the first test's setup starts it
            progress(f"{GROUNDFLARE}: {n} tests in {seconds:.2f} s")
            if with_vitest:
                project = _vitest_project(work / f"rep{rep}", n)
                seconds = _timed(vitest, project, {})
                runs = measured[VITEST]
                (runs.one if n == 1 else runs.many).append(seconds)
                progress(f"{VITEST}: {n} tests in {seconds:.2f} s")
    reset = statistics.median(setups)
    header = ["runner", "1 test (start)", f"{N_TESTS} tests", "per further test"]
    body = [
        [name, f"{r.start:.2f} s", f"{r.total:.2f} s", f"{r.per_test * 1000:.1f} ms"]
        for name, r in measured.items()
    ]
    table = pipe_table(header, body) + (
        f"\ngroundflare's reset per test (restore + log capture, fixture setup): median "
        f"{reset:.1f} ms, p90 {statistics.quantiles(setups, n=10)[-1]:.1f} ms (budget 20 ms)"
        "\nwall time from spawning the runner to its exit; medians"
    )
    summary = {
        "bench": "testing",
        "n_tests": N_TESTS,
        "reset_ms_median": round(reset, 2),
        "runners": {
            name: {
                "start_s": round(r.start, 3),
                "total_s": round(r.total, 3),
                "per_test_ms": round(r.per_test * 1000, 2),
            }
            for name, r in measured.items()
        },
    }
    return SectionReport(
        "Integration tests: a session's start and each test's cost", table, json.dumps(summary)
    )
