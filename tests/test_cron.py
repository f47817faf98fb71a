"""Cron triggers: `[triggers] crons` run scheduled() on their schedule, with production's
`controller.cron` and `scheduledTime`; wrangler's manual trigger routes and
`groundflare trigger scheduled` run it on demand."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from groundflare.workerd_config.crons import next_fire
from tests.stack import WORKERS, advance_clock, eventually, request, run_serve

CRON = WORKERS / "cron" / "wrangler.toml"
MONTHLY = WORKERS / "cron" / "monthly.toml"
EVERY_FIVE = "*/5 * * * *"
FIRST_MONDAY = "30 9 * * 2#1"  # Cloudflare counts 1 = Sunday: 2#1 is the first Monday
FIVE_MINUTES_MS = 5 * 60 * 1000


@pytest.fixture
def stack(tmp_data, stacks):
    return stacks([CRON], tmp_data, env={"GROUNDFLARE_TEST_CLOCK": "1"})


def fired(stack) -> list[dict[str, object]]:
    status, body = request(stack.url + "/fired")
    assert status == 200, body
    return json.loads(body)


def test_a_cron_fires_at_each_of_its_minutes_with_that_minute_as_scheduled_time(stack):
    advance_clock(stack, 15 * 60)

    def three_runs() -> list[int] | None:
        times = [r["scheduledTime"] for r in fired(stack) if r["cron"] == EVERY_FIVE]
        return times[:3] if len(times) >= 3 else None

    first, *rest = eventually(three_runs)
    assert first % FIVE_MINUTES_MS == 0
    assert rest == [first + FIVE_MINUTES_MS, first + 2 * FIVE_MINUTES_MS]


def test_days_of_week_count_from_sunday_as_cloudflare_counts_them(tmp_data, stacks):
    stack = stacks([MONTHLY], tmp_data, env={"GROUNDFLARE_TEST_CLOCK": "1"})
    advance_clock(stack, 40 * 24 * 3600)
    runs = eventually(lambda: [r for r in fired(stack) if r["cron"] == FIRST_MONDAY] or None)
    moment = datetime.fromtimestamp(runs[0]["scheduledTime"] / 1000, UTC)
    assert (moment.strftime("%A"), moment.hour, moment.minute) == ("Monday", 9, 30)
    assert moment.day <= 7


def test_the_manual_routes_run_scheduled_and_the_worker_never_sees_them(stack):
    assert request(stack.url + "/cdn-cgi/handler/scheduled?cron=1+2+3+4+5&time=1000") == (
        200,
        b"ok",
    )
    assert request(stack.url + "/__scheduled?cron=manual&time=2000&format=json") == (
        200,
        b'{"outcome":"ok","noRetry":false}',
    )
    assert request(stack.url + "/__scheduled?cron=throw") == (500, b"exception")
    assert fired(stack) == [
        {"cron": "1 2 3 4 5", "scheduledTime": 1000},
        {"cron": "manual", "scheduledTime": 2000},
    ]


def test_the_cli_triggers_a_workers_scheduled_handler(stack, tmp_data):
    def trigger(*options: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "groundflare", "trigger", "scheduled", *options]
        return subprocess.run(
            [*argv, "--data-dir", str(tmp_data)], capture_output=True, text=True, timeout=60
        )

    done = trigger("--cron", EVERY_FIVE, "--time", "3000")
    assert (done.returncode, done.stdout) == (0, "ok\n")
    failed = trigger("--worker", "cron-probe", "--cron", "throw")
    assert (failed.returncode, failed.stdout) == (1, "exception\n")
    assert {"cron": EVERY_FIVE, "scheduledTime": 3000} in fired(stack)


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("61 * * * *", "'61 * * * *' is not a valid cron expression"),
        ("* * * *", "'* * * *' has 4 fields; a cron has 5"),
        ("0 9 * * 0", "day of week '0' is not 1-7 or SUN-SAT"),
    ],
)
def test_a_bad_cron_expression_is_a_config_error_naming_it(tmp_path, tmp_data, cron, reason):
    config = tmp_path / "wrangler.toml"
    config.write_text(
        f'name = "w"\nmain = "w.js"\ncompatibility_date = "2026-11-01"\n'
        f'[triggers]\ncrons = ["{cron}"]\n'
    )
    (tmp_path / "w.js").write_text("export default { scheduled() {} };\n")
    result = run_serve("-c", str(config), "--data-dir", str(tmp_data))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"groundflare: config: {config}: triggers.crons.0: {reason}"
    )


@pytest.mark.parametrize(
    ("cron", "after", "fires"),
    [
        # L in the day of month: the month's last day (February 2027 has 28).
        ("0 12 L * *", datetime(2027, 2, 3, tzinfo=UTC), datetime(2027, 2, 28, 12, 0, tzinfo=UTC)),
        # 6L: the month's last Friday (Cloudflare counts 1 = Sunday, so 6 is Friday).
        ("30 8 * * 6L", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 29, 8, 30, tzinfo=UTC)),
        # 15W: the weekday nearest the 15th; 2027-05-15 is a Saturday, so Friday the 14th.
        ("0 0 15W * *", datetime(2027, 5, 1, tzinfo=UTC), datetime(2027, 5, 14, 0, 0, tzinfo=UTC)),
        # SUN#2 and ?: the month's second Sunday, any day of month.
        (
            "0 6 ? * SUN#2",
            datetime(2027, 3, 1, tzinfo=UTC),
            datetime(2027, 3, 14, 6, 0, tzinfo=UTC),
        ),
    ],
)
def test_last_nearest_weekday_and_nth_day_fire_on_cloudflares_dates(cron, after, fires):
    assert next_fire(cron, after) == fires
