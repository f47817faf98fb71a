"""Rate limits: `[[ratelimits]]` and `[[unsafe.bindings]] type = "ratelimit"` give a Worker
`limit({key})`, counted per `namespace_id` (shared by every Worker naming it) and per
period of 10 or 60 seconds, kept on disk across restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, advance_clock, eventually, request, run_serve

PROBE = WORKERS / "ratelimit" / "wrangler.toml"
OTHER = WORKERS / "ratelimit" / "other.toml"
TEST_CLOCK = {"GROUNDFLARE_TEST_CLOCK": "1"}


def limit(url: str, key: str, binding: str = "PER_MINUTE") -> Any:
    status, body = request(f"{url}/limit?binding={binding}&key={key}")
    assert status == 200, body
    answer = json.loads(body)
    return answer["ok"]["success"] if "ok" in answer else answer


def calls(url: str, key: str, count: int, binding: str = "PER_MINUTE") -> list[bool]:
    return [limit(url, key, binding) for _ in range(count)]


@pytest.fixture
def stack(tmp_data, stacks) -> RunningStack:
    return stacks([PROBE, OTHER], tmp_data, env=TEST_CLOCK)


def test_a_key_gets_limit_calls_per_period_and_other_keys_their_own(stack):
    assert calls(stack.url, "alice", 4) == [True, True, True, False]
    assert calls(stack.url, "bob", 1) == [True]


def test_workers_naming_the_same_namespace_share_its_counters(stack):
    other = stack.ready["workers"]["ratelimit-other"]
    assert calls(stack.url, "shared", 2) == [True, True]
    assert calls(other, "shared", 2) == [True, False]
    assert calls(stack.url, "shared", 1) == [False]


def test_a_new_period_starts_counting_again(stack):
    assert calls(stack.url, "burst", 3, "BURST") == [True, True, False]
    advance_clock(stack, 10)
    assert calls(stack.url, "burst", 1, "BURST") == [True]


def test_counters_survive_a_restart(tmp_data, stacks):
    # The window is real time after a restart (the test clock starts again at now): begin
    # early in a minute, so the restart stays inside it.
    eventually(lambda: time.time() % 60 < 30, 35, "the first half of a minute")
    first = stacks([PROBE], tmp_data)
    assert calls(first.url, "kept", 3) == [True, True, True]
    assert first.stop() == 0
    second = stacks([PROBE], tmp_data)
    assert calls(second.url, "kept", 1) == [False]


def test_options_other_than_key_limit_and_period_are_refused(stack):
    _, body = request(stack.url + "/limit", {"key": "k", "cost": 2}, method="POST")
    assert json.loads(body) == {
        "error": {"name": "Error", "message": "bad rate limit options: [cost]"}
    }
    _, body = request(stack.url + "/limit", {"key": "k", "period": 30}, method="POST")
    assert json.loads(body) == {"error": {"name": "Error", "message": "unsupported period: 30"}}


@pytest.mark.parametrize(
    ("simple", "reason"),
    [
        (
            "{ limit = 10, period = 30 }",
            'ratelimits.0.simple.period: "simple.period" must be either 10 or 60 but got 30.',
        ),
        ("{ limit = 0, period = 60 }", "ratelimits.0.simple.limit: Input should be greater than 0"),
    ],
)
def test_a_period_other_than_10_or_60_is_a_config_error(tmp_path: Path, tmp_data, simple, reason):
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "w"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n'
        f'[[ratelimits]]\nname = "RL"\nnamespace_id = "1"\nsimple = {simple}\n'
    )
    (tmp_path / "w.js").write_text("export default { fetch() { return new Response(); } };\n")
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"groundflare: config: {config}: {reason}"


def test_an_unsafe_binding_of_another_type_is_a_warning_naming_what_the_worker_misses(
    tmp_path: Path, tmp_data, stacks
):
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "w"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n'
        '[[unsafe.bindings]]\nname = "METRICS"\ntype = "metrics_magic"\n'
    )
    (tmp_path / "w.js").write_text("export default { fetch() { return new Response(); } };\n")
    stack = stacks([config], tmp_data)
    assert (
        f"{config}: unsafe.bindings[0]: type 'metrics_magic' is not supported locally; "
        "env.METRICS will be undefined in the Worker"
    ) in stack.stderr()
