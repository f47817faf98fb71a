"""Cloudflare's own D1 binding tests (workerd's src/cloudflare/internal/test/d1/), run against the
shim through real workerd: they assert whole results and exact `meta` (rows read and written,
changed_db, last_row_id) for a happy path, with and without sessions.

Their code is not ours to ship and no registry package carries it, so it is read at run time
from a workerd checkout named by GROUNDFLARE_WORKERD_SRC (`git clone
https://github.com/cloudflare/workerd`); without one the tests are skipped, saying so. The
harness (the runner Worker and its wrangler.toml) is ours. Each suite file runs in a stack of
its own, its tests in the file's order sharing one database, as workerd's test runner does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import RunningStack, post_json, start_stack

SUITE_DIR = "src/cloudflare/internal/test/d1"
SUITES = ("d1-api-test.js", "d1-api-test-with-sessions.js")
SHARED = ("d1-api-test-common.js",)
# Tests of the mock D1 itself: they ask its commitTokens routes (env.d1MockFetcher) which
# bookmarks the binding sent. Not a D1 behaviour, so nothing to run against the shim.
MOCK_ONLY = {
    "test_d1_api_withsessions_token_handling",
    "test_d1_api_withsessions_old_token_skipped",
}

RUNNER = """\
import * as plain from "./d1-api-test.js";
import * as sessions from "./d1-api-test-with-sessions.js";

const SUITES = { "d1-api-test.js": plain, "d1-api-test-with-sessions.js": sessions };

// One exported test per request, with the env the suites' wd-test files give them.
export default {
  async fetch(request, env) {
    const { suite, test } = await request.json();
    try {
      await SUITES[suite][test].test(undefined, { d1: env.DB });
      return Response.json({ ok: true });
    } catch (err) {
      return Response.json({ ok: false, error: String(err && err.stack ? err.stack : err) });
    }
  },
};
"""

WRANGLER = """\
name = "workerd-d1-suite"
main = "runner.js"
compatibility_date = "2026-11-01"
compatibility_flags = ["nodejs_compat"]

[[d1_databases]]
binding = "DB"
database_name = "suite"
database_id = "00000000-0000-4000-8000-00000000d1d1"
"""


def workerd_checkout() -> Path | None:
    source = os.environ.get("GROUNDFLARE_WORKERD_SRC")
    if not source or not (Path(source) / SUITE_DIR / SUITES[0]).is_file():
        return None
    return Path(source) / SUITE_DIR


def exported_tests(suite: str) -> list[str]:
    """The suite's exported tests in source order (the order workerd runs them)."""
    folder = workerd_checkout()
    if folder is None:
        return ["(no checkout)"]
    names = re.findall(r"^export const (\w+)\s*=", (folder / suite).read_text(), re.MULTILINE)
    return [name for name in names if name not in MOCK_ONLY]


pytestmark = pytest.mark.skipif(
    workerd_checkout() is None,
    reason=(
        "Cloudflare's D1 suites are not in any registry package: set GROUNDFLARE_WORKERD_SRC "
        "to a checkout of github.com/cloudflare/workerd to run them"
    ),
)


@pytest.fixture(scope="module")
def suite_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningStack]]:
    """A stack per suite file, started when its first test runs."""
    started: dict[str, RunningStack] = {}

    def project(suite: str) -> Path:
        folder = workerd_checkout()
        assert folder is not None
        root = tmp_path_factory.mktemp(suite.removesuffix(".js"))
        for name in (*SUITES, *SHARED):
            shutil.copy(folder / name, root / name)
        (root / "runner.js").write_text(RUNNER)
        (root / "wrangler.toml").write_text(WRANGLER)
        return root

    class Stacks(dict[str, RunningStack]):
        def __missing__(self, suite: str) -> RunningStack:
            root = project(suite)
            stack = start_stack([root / "wrangler.toml"], root / "data")
            started[suite] = self[suite] = stack
            return stack

    yield Stacks()
    for stack in started.values():
        assert stack.stop() == 0


@pytest.mark.parametrize(
    ("suite", "test"),
    [(suite, test) for suite in SUITES for test in exported_tests(suite)],
)
def test_cloudflares_d1_suite_passes(suite_stacks, suite, test):
    stack = suite_stacks[suite]
    outcome = post_json(stack.ready["url"], {"suite": suite, "test": test})
    assert outcome["ok"], json.dumps(outcome, indent=1)
