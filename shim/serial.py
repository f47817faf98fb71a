"""One thread that runs jobs in order, awaited from the event loop.

SQLite work must not block the loop, and one resource's work must run in
order (production D1 runs a database's queries one at a time). A queue and a
plain thread cost a fraction of `run_in_executor`'s future chaining.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("shim")

_STOP = None


class SerialExecutor:
    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.jobs_started = 0
        # Jobs from run() not finished yet, counted on the event loop. A job whose awaiting
        # coroutine was cancelled still counts until the thread is done with it: callers
        # read this to know the thread is idle, so they may use its connection inline.
        self.pending = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            self.jobs_started += 1
            job()

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError(f"{self._thread.name}: used after close()")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:  # delivered to the awaiting coroutine
                loop.call_soon_threadsafe(self._settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(self._settle, future, result, None)

        self.pending += 1
        self._jobs.put(job)
        return future

    def _settle(
        self, future: asyncio.Future[Any], result: Any, error: BaseException | None
    ) -> None:
        self.pending -= 1
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def submit(self, fn: Callable[[], Any]) -> None:
        """Queue work whose result nobody awaits; errors are logged. Dropped after close()."""
        if self._closed:
            return

        def job() -> None:
            try:
                fn()
            except Exception:
                log.exception("background job %s failed", getattr(fn, "__name__", fn))

        self._jobs.put(job)

    def close(self) -> None:
        """Finish queued jobs, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        self._thread.join()
