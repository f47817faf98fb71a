"""Cron triggers: each Worker's schedules with their next run, their last runs from the
request log, and "run now" (scheduled() through the door, as the trigger would)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from groundflare.shim.door import DoorError
from groundflare.shim.explorer.web import PREFIX, Page, Refused, redirect
from groundflare.shim.messages import Response
from groundflare.shim.traces.store import Filters
from groundflare.workerd_config.crons import next_fire

LAST_RUNS = 5


async def cron_page(page: Page) -> Response:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    traces = page.stack.traces
    for trigger in page.stack.crons:
        runs = []
        if traces is not None:
            found = await traces.store.recent(
                Filters(worker=trigger.worker, type="scheduled"), LAST_RUNS * 4
            )
            runs = [r for r in found if r.trigger == trigger.cron][:LAST_RUNS]
        rows.append(
            {
                "trigger": trigger,
                "next": next_fire(trigger.cron, now).strftime("%Y-%m-%d %H:%M UTC"),
                "runs": runs,
            }
        )
    return page.render("cron.html", rows=rows, door=page.stack.door is not None)


async def run_now(page: Page) -> Response:
    form = await page.form()
    worker, cron = form.get("worker", ""), form.get("cron", "")
    if not any(t.worker == worker and t.cron == cron for t in page.stack.crons):
        raise Refused(404, f"{worker} has no cron trigger {cron!r}")
    door = page.stack.door
    if door is None:
        raise Refused(409, "no Worker runs here: start the stack to run its triggers")
    try:
        result = await door.scheduled(worker, cron)
    except DoorError as exc:
        return redirect(f"{PREFIX}/cron", problem=f"{worker} {cron}: {exc}")
    return redirect(f"{PREFIX}/cron", notice=f"ran {worker}'s {cron}: {result.outcome}")


ROUTES = [
    ("GET", "/cron", cron_page),
    ("POST", "/cron/run", run_now),
]
