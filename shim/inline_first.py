"""Where a resource's SQLite work runs: on the event loop when it is cheap, else on the
resource's own thread (docs/performance.md).

Handing work to a thread costs ~200 µs of wake-ups here, many times what a point
query or an index update costs. So work first runs inline: only while the thread is
idle (order is kept, and one connection is never used from two threads), without
waiting for locks (a zero busy timeout) and, where a budget is set, interrupted by
SQLite's progress handler once it runs over. Work that meets a lock or its budget
must have left nothing behind (it ran in a transaction that was rolled back); it is
run again on the thread, behind whatever is queued there, waiting for locks as long
as production would.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

import apsw

from groundflare.shim.serial import SerialExecutor

T = TypeVar("T")
# How often SQLite's progress handler looks at the clock, in virtual machine steps.
PROGRESS_STEPS = 1_000


class RunOnThread(Exception):
    """Inline work met a lock before committing: rolled back."""


class OverBudget(RunOnThread):
    """Inline work ran over its budget: rolled back. Work of the same key goes to the thread
    first for a while (KNOWN_SLOW_RUNS), so it is not started twice each time."""


# How many runs work that overran the budget goes straight to the thread before it is tried
# inline again (it may have been slow only once: a cold cache, a busy machine).
KNOWN_SLOW_RUNS = 64
KNOWN_SLOW_KEYS = 256


class InlineFirst:
    def __init__(
        self,
        executor: SerialExecutor,
        busy_timeout_ms: int,
        budget_seconds: float | None = None,
    ) -> None:
        self.executor = executor
        self.busy_timeout_ms = busy_timeout_ms
        self._budget = budget_seconds
        self._deadline = math.inf
        self._connections: list[apsw.Connection] = []
        # Keys of work that overran the budget -> thread runs left before an inline retry.
        self._slow: OrderedDict[Hashable, int] = OrderedDict()
        # Inline attempts that ran over their budget (each cost the budget in vain).
        self.overruns = 0

    def attach(self, conn: apsw.Connection) -> None:
        """Run `conn`'s work through here: no lock waiting inline, the budget enforced."""
        conn.set_busy_timeout(0)
        if self._budget is not None:
            conn.set_progress_handler(self._over_budget, PROGRESS_STEPS)
        self._connections.append(conn)

    async def run(self, fn: Callable[[], T], inline: bool = True, key: Hashable | None = None) -> T:
        """`fn()`, inline if it can be; `fn` raises RunOnThread or apsw.BusyError (having
        left nothing behind) to be run again on the thread. `key`: what the work is (the
        same key, the same work), so work that overran the budget is not tried inline again
        at once."""
        if inline and self.executor.pending == 0 and not self._known_slow(key):
            self._deadline = (
                math.inf if self._budget is None else time.perf_counter() + self._budget
            )
            try:
                return fn()
            except OverBudget:
                self.overruns += 1
                if key is not None:
                    self._remember_slow(key)
            except (RunOnThread, apsw.BusyError):
                pass
            finally:
                self._deadline = math.inf
        return await self.executor.run(self._patiently, fn)

    def _known_slow(self, key: Hashable | None) -> bool:
        if key is None or (left := self._slow.get(key)) is None:
            return False
        if left <= 1:
            del self._slow[key]
        else:
            self._slow[key] = left - 1
        return True

    def _remember_slow(self, key: Hashable) -> None:
        self._slow[key] = KNOWN_SLOW_RUNS
        self._slow.move_to_end(key)
        while len(self._slow) > KNOWN_SLOW_KEYS:
            self._slow.popitem(last=False)

    @property
    def inline(self) -> bool:
        """True while inline work runs (a lock met now means: retry on the thread)."""
        return self._deadline != math.inf

    @contextlib.contextmanager
    def unbudgeted(self) -> Iterator[None]:
        """For work that must not be interrupted once decided (a COMMIT)."""
        deadline = self.lift_budget()
        try:
            yield
        finally:
            self._deadline = deadline

    def lift_budget(self) -> float:
        """unbudgeted() without a context manager, for hot paths: returns the deadline that
        restore_budget() must put back."""
        deadline, self._deadline = self._deadline, math.inf
        return deadline

    def restore_budget(self, deadline: float) -> None:
        self._deadline = deadline

    def _patiently(self, fn: Callable[[], T]) -> T:
        for conn in self._connections:
            conn.set_busy_timeout(self.busy_timeout_ms)
        try:
            return fn()
        finally:
            for conn in self._connections:
                conn.set_busy_timeout(0)

    def _over_budget(self) -> bool:
        return time.perf_counter() > self._deadline
