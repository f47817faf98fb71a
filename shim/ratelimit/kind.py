"""Rate limits: `[[ratelimits]]` (and `[[unsafe.bindings]]` of type "ratelimit") give a Worker
`env.NAME.limit({key})`, a `wrapped` binding (workerd has no native one) whose internal
module (workerd_config/assets/ratelimit.js) asks the shim; counters live per
`namespace_id` in `ratelimit/<id>.sqlite`, shared by every Worker naming it."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.kinds import Kind, Served
from groundflare.shim.messages import BodyTooLarge, Request, Response
from groundflare.shim.ratelimit.store import RateLimitStore
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


class LimitCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    limit: int = Field(gt=0)
    period: Literal[10, 60]


async def handle(store: RateLimitStore, clock: Clock, request: Request) -> Response:
    if request.method != "POST" or request.path != "/limit":
        return Response(status=404, body=b"not part of the rate limit protocol")
    try:
        call = LimitCall.model_validate_json(await request.body.read(64 * 1024))
    except (BodyTooLarge, ValidationError) as exc:
        detail = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)
        return Response(status=400, body=detail.encode())
    success = await store.hit(call.key, call.limit, call.period, clock.now())
    return json_response(200, orjson.dumps({"success": success}))


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
        store = RateLimitStore(self.location(spec, folder), spec.id)
        handlers = {spec.tag: partial(handle, store, clock)}
        return Served(resource=store, handlers=handlers, file=store.path, what="rate limit")

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / f"{file_part(spec.id)}.sqlite"


KIND = RateLimitKind()
