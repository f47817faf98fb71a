"""A running stack from Python: its Workers' URLs, their bindings, their triggers, its clock
and its snapshots (docs/testing.md). What wrangler's getPlatformProxy is to Node: every
binding call runs inside workerd, in a Worker holding the same bindings under the same
compatibility settings, so values and errors are the ones the Worker's code sees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from groundflare.bindings.channel import Channel, StackError
from groundflare.bindings.d1 import D1Database
from groundflare.bindings.kv import KvNamespace
from groundflare.bindings.objects import DurableObjectStub, Queue
from groundflare.bindings.r2 import R2Bucket
from groundflare.contracts.door import (
    QueueMessage,
    QueueRequest,
    QueueResult,
    ScheduledRequest,
    ScheduledResult,
    queue_path,
    scheduled_path,
)
from groundflare.contracts.layout import DataDir
from groundflare.runtime import Runtime

WORKER_ENDPOINT = "worker:"
CLOCK_PATH = "/_groundflare/clock"
SNAPSHOTS_PATH = "/_groundflare/snapshots"


class Stack:
    """The stack running on `data_dir` (started by `groundflare serve`, `dev`, or the
    pytest plugin). Close it when done, or use `with`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._layout = DataDir(root=self.data_dir)
        self.channel = Channel(self._layout)
        self._bindings: dict[str, dict[str, str]] | None = None
        self._resources: dict[str, list[str]] | None = None
        self._namespaces: dict[str, dict[str, str]] | None = None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- Workers ----

    @property
    def workers(self) -> dict[str, str]:
        """Each Worker's URL, by name, in the order of the configs."""
        runtime = Runtime.model_validate_json(self._layout.runtime_json.read_bytes())
        return {
            name.removeprefix(WORKER_ENDPOINT): url
            for name, url in runtime.endpoints.items()
            if name.startswith(WORKER_ENDPOINT)
        }

    @property
    def url(self) -> str:
        """The first Worker's URL."""
        return next(iter(self.workers.values()))

    def bindings(self) -> dict[str, dict[str, str]]:
        """Every Worker's bindings reachable from Python: `{worker: {binding: kind}}`."""
        if self._bindings is None:
            self._bindings = self.channel.door_json("GET", "/bindings")
        return self._bindings

    def resource_bindings(self) -> dict[str, list[str]]:
        """The bindings (`worker.NAME`) behind each shim resource, by its tag (`kv:<id>`)."""
        if self._resources is None:
            self._resources = self.channel.door_json("GET", "/resources")
        return self._resources

    def durable_object_namespaces(self) -> dict[str, dict[str, str]]:
        """The v4 API's namespace id behind each Durable Object binding: `{worker: {binding:
        id}}` (a class defined outside the stack has none)."""
        if self._namespaces is None:
            self._namespaces = self.channel.door_json("GET", "/durable-objects")
        return self._namespaces

    def _worker_with(self, binding: str, kinds: tuple[str, ...], worker: str | None) -> str:
        listing = self.bindings()
        candidates = [worker] if worker is not None else list(listing)
        for name in candidates:
            if listing.get(name, {}).get(binding) in kinds:
                return name
        where = f"Worker {worker!r}" if worker is not None else "any Worker of this stack"
        have = {w: sorted(b) for w, b in listing.items()}
        raise StackError(f"{where} has no {'/'.join(kinds)} binding named {binding!r} ({have})")

    # ---- bindings ----

    def d1(self, binding: str, worker: str | None = None) -> D1Database:
        owner = self._worker_with(binding, ("d1",), worker)
        return D1Database(self.channel, owner, binding, self._resource_id("d1", owner, binding))

    def _resource_id(self, kind: str, worker: str, binding: str) -> str | None:
        """The id of the shim resource a Worker's binding reaches (None: not served here)."""
        for tag, names in self.resource_bindings().items():
            resource_kind, _, resource = tag.partition(":")
            if resource_kind == kind and f"{worker}.{binding}" in names:
                return resource
        return None

    def kv(self, binding: str, worker: str | None = None) -> KvNamespace:
        return KvNamespace(self.channel, self._worker_with(binding, ("kv",), worker), binding)

    def r2(self, binding: str, worker: str | None = None) -> R2Bucket:
        return R2Bucket(self.channel, self._worker_with(binding, ("r2",), worker), binding)

    def queue(self, binding: str, worker: str | None = None) -> Queue:
        owner = self._worker_with(binding, ("queue", "queue-producer"), worker)
        return Queue(self.channel, owner, binding)

    def durable_object(
        self,
        binding: str,
        name: str | None = None,
        *,
        id: str | None = None,
        worker: str | None = None,
    ) -> DurableObjectStub:
        """The object `name` (idFromName) or `id` (idFromString) of the namespace `binding`."""
        if (name is None) == (id is None):
            raise ValueError("give the object's name or its id")
        which = {"name": name} if name is not None else {"id": str(id)}
        owner = self._worker_with(binding, ("durable-object",), worker)
        namespace = self.durable_object_namespaces().get(owner, {}).get(binding)
        return DurableObjectStub(self.channel, owner, binding, which, namespace)

    # ---- triggers ----

    def trigger_scheduled(
        self, cron: str = "", worker: str | None = None, when: datetime | None = None
    ) -> ScheduledResult:
        """Run `scheduled()` as the cron trigger `cron` firing at `when` (default: now)."""
        moment = when or datetime.now(UTC)
        payload = ScheduledRequest(cron=cron, scheduled_time=int(moment.timestamp() * 1000))
        answer = self.channel.door_json(
            "POST", scheduled_path(worker or next(iter(self.workers))), payload.model_dump()
        )
        return ScheduledResult.model_validate(answer)

    def run_queue_consumer(
        self, queue: str, messages: list[Any], worker: str | None = None
    ) -> QueueResult:
        """Deliver one batch of `messages` (their bodies) to the `queue()` handler of
        `worker` (default: the first), as the queue `queue`; the batch's outcome, explicit
        acks and retries."""
        now = int(datetime.now(UTC).timestamp() * 1000)
        batch = QueueRequest(
            queue=queue,
            messages=[
                QueueMessage(id=uuid.uuid4().hex, timestamp=now, body=body) for body in messages
            ],
        )
        answer = self.channel.door_json(
            "POST", queue_path(worker or next(iter(self.workers))), batch.model_dump(mode="json")
        )
        return QueueResult.model_validate(answer)

    # ---- the clock and snapshots ----

    def advance_time(self, seconds: float) -> float:
        """Move the stack's clock forward (it runs with GROUNDFLARE_TEST_CLOCK=1, as the
        pytest plugin starts it): KV expirations and cron triggers happen as if that much
        time had passed. The stack's new now, in seconds since the epoch."""
        now: float = self.channel.shim_post(CLOCK_PATH, {"advance": seconds})["now"]
        return now

    def snapshot(self, name: str) -> float:
        """Copy all the stack's data (D1, KV, R2, Durable Objects, ...) as `name`; ms taken."""
        ms: float = self.channel.shim_post(f"{SNAPSHOTS_PATH}/{name}")["ms"]
        return ms

    def restore(self, name: str) -> float:
        """Make all the data what it was at `snapshot(name)`, nothing restarted; ms taken."""
        ms: float = self.channel.shim_post(f"{SNAPSHOTS_PATH}/{name}/restore")["ms"]
        return ms


def connect(data_dir: Path) -> Stack:
    """The stack running on `data_dir` (`groundflare serve --data-dir`)."""
    return Stack(data_dir)
