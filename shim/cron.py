"""Cron triggers: each Worker's `[triggers] crons` fire on their schedule, through the door.

As in production, a trigger fires at its minute with that minute as `scheduledTime`
and the expression as written as `controller.cron`; minutes that passed while the
stack was down are not made up. The shim's clock decides when a minute has come, so
tests move it instead of waiting (docs/cron.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from groundflare.contracts.shim_config import CronTrigger
from groundflare.shim.clock import Clock
from groundflare.shim.door import Door, DoorError
from groundflare.workerd_config.crons import next_fire

log = logging.getLogger("shim")


class CronScheduler:
    def __init__(self, triggers: list[CronTrigger], door: Door, clock: Clock) -> None:
        self._triggers = triggers
        self._door = door
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        for trigger in self._triggers:
            self._spawn(self._run(trigger))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, trigger: CronTrigger) -> None:
        after = datetime.fromtimestamp(self._clock.now(), UTC)
        while True:
            moment = next_fire(trigger.cron, after)
            await self._clock.sleep_until(moment.timestamp())
            # A fire never holds up the next one; one that outlasts a minute overlaps it,
            # as production's would.
            self._spawn(self._fire(trigger, moment))
            after = moment

    async def _fire(self, trigger: CronTrigger, moment: datetime) -> None:
        try:
            result = await self._door.scheduled(trigger.worker, trigger.cron, moment)
        except DoorError as exc:
            log.warning("cron %r of %s did not run: %s", trigger.cron, trigger.worker, exc)
            return
        log.info(
            "cron %r of %s at %s: %s",
            trigger.cron,
            trigger.worker,
            moment.isoformat(),
            result.outcome,
        )
