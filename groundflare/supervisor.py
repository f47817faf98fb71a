"""Supervised components: each an explicit state machine, as supervisord models them.

STARTING -> RUNNING only after the component's real readiness signal. An
unexpected exit goes to BACKOFF (a growing delay), then STARTING again; after
MAX_FAILURES failures within FAILURE_WINDOW_SECONDS it is FATAL, with a failure
class that says what to do. Stopping signals the process group, waits, kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from groundflare.children import Child, ChildSpec
from groundflare.contracts.failures import FailureClass, StartFailure

log = logging.getLogger("groundflare")

BACKOFF_SECONDS = (0.25, 0.5, 1.0, 2.0, 4.0)
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 60.0


class State(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FATAL = "fatal"


class Handover(Protocol):
    """What a reload does around starting the new child and stopping the old, for a component
    whose listeners are handed over (groundflare/handover.py)."""

    def prepare(self) -> None: ...

    async def commit(self) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


@dataclass
class ComponentSpec:
    name: str
    # Built at every (re)start, so a restart picks up a reloaded config.
    child: Callable[[], ChildSpec]
    # Waits for the child's readiness signal; raises StartFailure.
    ready: Callable[[Child], Awaitable[None]]
    # None: a reload's new child shares the old one's listeners.
    handover: Handover | None = None


Listener = Callable[["Component", str], None]


class Component:
    def __init__(self, spec: ComponentSpec, listener: Listener) -> None:
        self.spec = spec
        self.name = spec.name
        self.state = State.STOPPED
        self.child: Child | None = None
        self.restarts = 0
        self.failure: StartFailure | None = None
        self._listener = listener
        self._failures: list[float] = []
        self._stopping = False
        self._replacing: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    def _set(self, state: State, event: str = "state") -> None:
        self.state = state
        self._listener(self, event)

    async def _launch(self) -> Child:
        """A new child, ready; or StartFailure with the child stopped."""
        child = Child(self.spec.child())
        try:
            await child.start()
            await self.spec.ready(child)
        except BaseException:
            await child.stop()
            raise
        return child

    async def start(self) -> None:
        """One attempt: STARTING, then RUNNING or StartFailure."""
        self._set(State.STARTING)
        self.child = await self._launch()
        self._set(State.RUNNING)

    async def supervise(self) -> None:
        """Restart after unexpected exits until stopped or FATAL."""
        while True:
            assert self.child is not None
            code = await self.child.wait()
            if self._stopping:
                return
            if self._replacing is not None:
                await asyncio.shield(self._replacing)
                continue
            words = self.child.last_words(f"exited with status {code}")
            log.warning("%s exited unexpectedly (%s)", self.name, words)
            if not await self._recover(words):
                return

    async def _recover(self, words: str) -> bool:
        """Back off and restart until one attempt succeeds; False once FATAL."""
        while True:
            now = time.monotonic()
            self._failures = [t for t in self._failures if now - t < FAILURE_WINDOW_SECONDS]
            self._failures.append(now)
            if len(self._failures) >= MAX_FAILURES:
                self.failure = StartFailure(self.name, words, FailureClass.CRASH_LOOP)
                self._set(State.FATAL, "fatal")
                return False
            self._set(State.BACKOFF)
            await asyncio.sleep(BACKOFF_SECONDS[min(len(self._failures), len(BACKOFF_SECONDS)) - 1])
            if self._stopping:
                return False
            try:
                await self.start()
            except StartFailure as exc:
                words = exc.reason
                continue
            self.restarts += 1
            self._listener(self, "restarted")
            return True

    async def replace(self) -> None:
        """Reload: start a new child beside the old one (on the same ports), then stop the
        old. If the new one fails (a broken edit), the old one keeps serving and StartFailure
        says why."""
        async with self.replacing():
            pass

    @contextlib.asynccontextmanager
    async def replacing(self) -> AsyncIterator[None]:
        """`replace` in two steps, for a child another one depends on: the body runs with the
        new child up beside the old, and the old one stops after it, whatever the body did.
        If the new one fails, the body does not run."""
        old = self.child
        assert old is not None
        handover = self.spec.handover
        self._replacing = asyncio.get_running_loop().create_future()
        try:
            try:
                if handover is not None:
                    handover.prepare()
                self.child = await self._launch()
            except BaseException:
                self.child = old
                if handover is not None:
                    handover.abort()
                raise
            try:
                yield
            finally:
                if handover is not None:
                    await handover.commit()
                await old.stop()
                if handover is not None:
                    handover.finish()
                self._listener(self, "reloaded")
        finally:
            self._replacing.set_result(None)
            self._replacing = None

    async def stop(self) -> None:
        self._stopping = True
        if self.child is not None and self.state != State.FATAL:
            self._set(State.STOPPING)
            await self.child.stop()
        self._set(State.STOPPED if self.state != State.FATAL else State.FATAL)


class Supervisor:
    """Starts components together, watches them, stops them in reverse order."""

    def __init__(self, specs: list[ComponentSpec], listener: Listener) -> None:
        self.components = [Component(spec, listener) for spec in specs]
        self._watchers: list[asyncio.Task[None]] = []

    def __getitem__(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    async def start(self) -> None:
        """All components in parallel; the first failure stops the rest and is raised."""
        attempts = [asyncio.ensure_future(c.start()) for c in self.components]
        try:
            await asyncio.gather(*attempts)
        except BaseException:
            for attempt in attempts:
                attempt.cancel()
            await asyncio.gather(*attempts, return_exceptions=True)
            await self.stop()
            raise
        self._watchers = [asyncio.ensure_future(c.supervise()) for c in self.components]

    async def until_fatal(self) -> Component:
        """Returns the first component to go FATAL (runs until then)."""
        while True:
            done, _ = await asyncio.wait(self._watchers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._watchers.remove(task)
                task.result()
            for component in self.components:
                if component.state == State.FATAL:
                    return component
            if not self._watchers:
                await asyncio.Event().wait()

    async def stop(self) -> None:
        for component in reversed(self.components):
            await component.stop()
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
