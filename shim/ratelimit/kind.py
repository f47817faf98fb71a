"""Rate limits: `[[ratelimits]]` (and `[[unsafe.bindings]]` of type "ratelimit") give a Worker
`env.NAME.limit({key})`, a `wrapped` binding (workerd has no native one) whose internal
module (workerd_config/assets/ratelimit.js) asks the shim; counters live per
`namespace_id` in `ratelimit/<id>.sqlite`, shared by every Worker naming it.

Its store and handler are imported in `serve()`, on first use: every start of the shim and
the supervisor imports every kind, most of them unused."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.workerd_config.model import Module, RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section

MODULE_NAME = "groundflare-internal:ratelimit"
MODULE = Path(__file__).resolve().parents[2] / "workerd_config" / "assets" / "ratelimit.js"
PERIODS = (10, 60)


class Simple(Section):
    limit: int = Field(gt=0)
    period: int

    @field_validator("period")
    @classmethod
    def _period(cls, value: int) -> int:
        """wrangler's check and text: production counts per 10 or 60 seconds only."""
        if value not in PERIODS:
            raise PydanticCustomError(
                "ratelimit_period",
                '"simple.period" must be either 10 or 60 but got {period}.',
                {"period": value},
            )
        return value


class RateLimitEntry(Section):
    name: str = Field(pattern=BINDING_NAME)
    namespace_id: ResourceName
    simple: Simple


class RateLimitBinding(ResourceBinding):
    """`env.NAME`: the internal module wrapped around the namespace's shim service."""

    kind: Literal["ratelimit"] = "ratelimit"
    limit: int
    period: int

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        inner = [
            {"name": "fetcher", "service": self.service},
            {"name": "limit", "json": json.dumps(self.limit)},
            {"name": "period", "json": json.dumps(self.period)},
        ]
        return {"name": self.name, "wrapped": {"moduleName": MODULE_NAME, "innerBindings": inner}}

    def capnp_extensions(self, ctx: RenderContext) -> list[dict[str, Any]]:
        module = Module(name=MODULE_NAME, path=MODULE).capnp(ctx)
        return [{**module, "internal": True}]


class RateLimitKind(Kind):
    name = "ratelimit"
    wrangler_field = "ratelimits"
    unsafe_type = "ratelimit"
    entry = RateLimitEntry
    folder = "ratelimit"

    def binding(self, entry: RateLimitEntry) -> RateLimitBinding:
        namespace = ResourceSpec(kind=self.name, id=entry.namespace_id)
        return RateLimitBinding(
            name=entry.name,
            resource=namespace,
            limit=entry.simple.limit,
            period=entry.simple.period,
        )

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.ratelimit.binding import handle
        from groundflare.shim.ratelimit.store import RateLimitStore

        store = RateLimitStore(self.location(spec, folder), spec.id)
        handlers = {spec.tag: partial(handle, store, clock)}
        return Served(resource=store, handlers=handlers, file=store.path, what="rate limit")

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / f"{file_part(spec.id)}.sqlite"


KIND = RateLimitKind()
