"""Queues: `[[queues.producers]]` give a Worker workerd's native queue binding, speaking HTTP
to the shim; each queue is one SQLite file (`queues/<name>.sqlite`). Consumers
(`[[queues.consumers]]`) are the shim's dispatcher's (shim/queues/dispatch.py).

Its store, handlers and routes are imported in `serve()` and `routes()`, on first use: every
start of the shim and the supervisor imports every kind, most of them unused."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from groundflare.contracts.names import file_part
from groundflare.contracts.queues import MAX_DELAY_SECONDS, QUEUE_KIND, queue_resource
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.api.routes import Route
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.workerd_config.model import RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section

# The producer binding's `delivery_delay`, injected by its workerd service.
DEFAULT_DELAY_HEADER = "x-groundflare-queue-delay"


class QueueProducerEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    queue: ResourceName
    # Seconds every message of this binding waits before it can be delivered.
    delivery_delay: int = Field(default=0, ge=0, le=MAX_DELAY_SECONDS)


class QueueBinding(ResourceBinding):
    """`env.QUEUE`: workerd's native queue binding, speaking HTTP to the shim."""

    kind: Literal["queue"] = "queue"
    delivery_delay: int = 0

    @property
    def service(self) -> str:
        base = super().service
        return base if not self.delivery_delay else f"{base}-delay-{self.delivery_delay}"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "queue": self.service}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The queue's service; with a `delivery_delay`, one of its own that says so."""
        (service,) = super().capnp_services(ctx)
        if self.delivery_delay:
            headers = service["external"]["http"]["injectRequestHeaders"]
            delay = {"name": DEFAULT_DELAY_HEADER, "value": str(self.delivery_delay)}
            service["external"]["http"]["injectRequestHeaders"] = [*headers, delay]
            service["name"] = self.service
        return [service]


class QueueKind(Kind):
    name = QUEUE_KIND
    wrangler_field = "queues.producers"
    entry = QueueProducerEntry
    folder = "queues"

    def binding(self, entry: QueueProducerEntry) -> QueueBinding:
        return QueueBinding(
            name=entry.binding,
            resource=queue_resource(entry.queue),
            delivery_delay=entry.delivery_delay,
        )

    def routes(self) -> list[Route]:
        from groundflare.shim.queues import rest

        return rest.routes()

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.queues import binding
        from groundflare.shim.queues.store import QueueStore

        store = QueueStore(self.location(spec, folder), spec.id)
        handlers = {spec.tag: partial(binding.handle, store, clock)}
        return Served(resource=store, handlers=handlers, file=store.path, what="queue")

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / f"{file_part(spec.id)}.sqlite"


KIND = QueueKind()
