"""The shim's notion of now, which tests may move forward (KV expiration needs minutes,
a cron trigger a whole minute or a day)."""

from __future__ import annotations

import asyncio
import contextlib
import time


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0
        # Resolved (and replaced) at each move, so every sleeper notices every move.
        self._moved: asyncio.Future[None] | None = None

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        moved, self._moved = self._moved, None
        if moved is not None and not moved.done():
            moved.set_result(None)

    async def sleep_until(self, moment: float) -> None:
        """Return once `now()` reaches `moment`, real time passing or a test moving it."""
        while True:
            if self._moved is None:
                self._moved = asyncio.get_running_loop().create_future()
            moved = self._moved
            remaining = moment - self.now()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(moved), remaining)
