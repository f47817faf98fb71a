"""Queue consumers: batches of each consumed queue delivered to its Worker's queue() through
the door, and each message's fate written back (docs/queues.md).

A batch goes out once `max_batch_size` messages are deliverable, or `max_batch_timeout`
seconds after the oldest of them became deliverable, whichever comes first, with up to
`max_concurrency` batches in flight. What the Worker did decides each message: an explicit
`ack()` always acknowledges; an explicit `retry()` retries; `ackAll()` acknowledges the
rest; an exception or `retryAll()` retries the rest; a handler that simply returns
acknowledges them. A message retried more than `max_retries` times moves to the
`dead_letter_queue`, or is dropped. The shim's clock decides every "when", so tests move
it instead of waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import time
from collections.abc import Coroutine, Mapping
from typing import Any, cast

import orjson

from groundflare.contracts.door import QueueContentType, QueueMessage, QueueResult
from groundflare.contracts.queues import (
    MAX_CONCURRENCY,
    QUEUE_KIND,
    RETENTION_SECONDS,
    QueueConsumer,
)
from groundflare.shim.api.routes import Resources
from groundflare.shim.clock import Clock
from groundflare.shim.door import Door, DoorError
from groundflare.shim.queues.store import NewMessage, QueueStore, Retry, Stored

log = logging.getLogger("shim")

# A batch the door could not deliver (workerd restarting) is offered again this much later;
# the Worker may not have seen it, so it does not count as an attempt.
UNDELIVERED_PAUSE_SECONDS = 1.0
# How often (shim-clock seconds) messages past their retention are deleted.
RETENTION_SWEEP_SECONDS = 600.0
CONSUMER_WALL_SECONDS = 15 * 60.0


def door_body(stored: Stored) -> object:
    """A stored body as the door carries it (contracts/door.py QueueMessage): JSON as the
    producer wrote it, never parsed here; bytes and v8 in base64."""
    if stored.content_type == "json":
        return orjson.Fragment(stored.body)
    if stored.content_type == "text":
        return stored.body.decode("utf-8", "replace")
    return base64.b64encode(stored.body).decode("ascii")


def _message(stored: Stored) -> QueueMessage:
    return QueueMessage(
        id=stored.id,
        timestamp=stored.timestamp,
        body=door_body(stored),
        attempts=stored.attempts + 1,
        content_type=cast(QueueContentType, stored.content_type),
    )


async def _until(wake: asyncio.Event, clock: Clock, moment: float) -> None:
    """Return when `wake` is set or the clock reaches `moment`."""
    waits: list[asyncio.Task[Any]] = [asyncio.create_task(wake.wait())]
    if moment < math.inf:
        waits.append(asyncio.create_task(clock.sleep_until(moment)))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


class Consumer:
    """One queue's consumer: batches out, outcomes back."""

    def __init__(
        self,
        consumer: QueueConsumer,
        store: QueueStore,
        dead_letters: QueueStore | None,
        door: Door,
        clock: Clock,
    ) -> None:
        self.config = consumer
        self.store = store
        self.dead_letters = dead_letters
        self.door = door
        self.clock = clock
        self.in_flight = 0
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        store.listeners.append(self.wake.set)

    @property
    def limit(self) -> int:
        return self.config.max_concurrency or MAX_CONCURRENCY

    async def run(self) -> None:
        size, timeout = self.config.max_batch_size, self.config.max_batch_timeout
        while True:
            self.wake.clear()
            moment = math.inf
            if self.in_flight < self.limit:
                now = self.clock.now()
                ready, later = await self.store.peek(now, size)
                if ready and (len(ready) >= size or now >= ready[0].visible_at + timeout):
                    self._start(ready)
                    continue
                moment = ready[0].visible_at + timeout if ready else later
            await _until(self.wake, self.clock, moment)

    def _start(self, batch: list[Stored]) -> None:
        self.store.leased.update(s.seq for s in batch)
        self.in_flight += 1
        task = asyncio.create_task(self._deliver(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, batch: list[Stored]) -> None:
        name, worker = self.config.queue, self.config.worker
        started = time.perf_counter()
        try:
            try:
                result = await self.door.queue(worker, name, [_message(s) for s in batch])
            except DoorError as exc:
                log.warning(
                    "queue %s: batch of %d not delivered to %s: %s", name, len(batch), worker, exc
                )
                pause = self.clock.now() + UNDELIVERED_PAUSE_SECONDS
                await self.store.settle([], [Retry(s.seq, s.attempts, pause) for s in batch], [])
                return
            acked = await self._settle(batch, result)
            elapsed = (time.perf_counter() - started) * 1000
            log.info("QUEUE %s %d/%d (%.0f ms)", name, acked, len(batch), elapsed)
        except Exception:
            # The messages stay in the file and are offered again: at least once.
            log.exception("queue %s: settling a batch failed", name)
        finally:
            self.store.leased.difference_update(s.seq for s in batch)
            self.in_flight -= 1
            self.wake.set()

    async def _settle(self, batch: list[Stored], result: QueueResult) -> int:
        """Write the batch's outcome back; how many messages were acknowledged."""
        explicit_acks = set(result.explicitAcks)
        retried = {r["msgId"]: r.get("delaySeconds") for r in result.retryMessages}
        retry_rest = result.outcome != "ok" or bool(result.retryBatch.get("retry"))
        batch_delay = result.retryBatch.get("delaySeconds")
        now = self.clock.now()
        acked: list[int] = []
        retries: list[Retry] = []
        dead: list[Stored] = []
        for stored in batch:
            if stored.id in explicit_acks:
                acked.append(stored.seq)
                continue
            if stored.id in retried:
                delay = retried[stored.id]
            elif result.ackAll or not retry_rest:
                acked.append(stored.seq)
                continue
            else:
                delay = batch_delay
            attempts = stored.attempts + 1
            if attempts > self.config.max_retries:
                dead.append(stored)
            else:
                wait = self.config.retry_delay if delay is None else delay
                retries.append(Retry(stored.seq, attempts, now + wait))
        if dead:
            await self._dead_letter(dead, now)
        await self.store.settle(acked, retries, [s.seq for s in dead])
        return len(acked)

    async def _dead_letter(self, dead: list[Stored], now: float) -> None:
        """Into the dead-letter queue before they leave this one: a crash in between
        delivers them twice, never loses them."""
        name, tries = self.config.queue, self.config.max_retries + 1
        if self.dead_letters is None:
            for stored in dead:
                log.warning(
                    'queue %s: dropped message "%s" after %d failed attempts',
                    name,
                    stored.id,
                    tries,
                )
            return
        moved = [
            NewMessage(s.id, s.timestamp, s.content_type, s.body, now, origin=name) for s in dead
        ]
        await self.dead_letters.send(moved)
        log.warning(
            "queue %s: moved %d message(s) to dead letter queue %s after %d failed attempts",
            name,
            len(dead),
            self.config.dead_letter_queue,
            tries,
        )


class QueueDispatcher:
    """Every consumer of the stack, and the retention sweep of every queue."""

    def __init__(
        self,
        consumers: list[QueueConsumer],
        stores: Mapping[str, QueueStore],
        door: Door,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.stores = stores
        self.consumers = [
            Consumer(
                c,
                stores[c.queue],
                None if c.dead_letter_queue is None else stores[c.dead_letter_queue],
                door,
                clock,
            )
            for c in consumers
        ]
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        for consumer in self.consumers:
            self._spawn(consumer.run())
        self._spawn(self._retention())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retention(self) -> None:
        while True:
            cutoff = int((self.clock.now() - RETENTION_SECONDS) * 1000)
            for name, store in self.stores.items():
                with contextlib.suppress(Exception):
                    if gone := await store.expire(cutoff):
                        log.warning("queue %s: %d message(s) outlived retention", name, gone)
            await self.clock.sleep_until(self.clock.now() + RETENTION_SWEEP_SECONDS)

    async def stop(self) -> None:
        """Stop delivering. A batch still in flight stays in its queue's file and is delivered
        again at the next start (at least once)."""
        tasks = [*self._tasks, *(task for consumer in self.consumers for task in consumer.tasks)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def start_dispatcher(
    consumers: list[QueueConsumer], resources: Resources, door: Door | None, clock: Clock
) -> QueueDispatcher | None:
    """Every queue's retention sweep and every consumer's deliveries, started; none without
    a door (a preview) or without queues."""
    names = [entry.spec.id for entry in resources.entries(QUEUE_KIND)]
    if door is None or not names:
        return None
    stores = {}
    for name in names:
        served = resources.served(QUEUE_KIND, name)
        assert served is not None and isinstance(served.resource, QueueStore)
        stores[name] = served.resource
    # A consumer may run as long as production lets it (15 minutes of wall time).
    patient = Door(door.address, timeout=CONSUMER_WALL_SECONDS)
    dispatcher = QueueDispatcher(consumers, stores, patient, clock)
    dispatcher.start()
    return dispatcher
