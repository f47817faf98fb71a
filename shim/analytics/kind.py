"""Workers Analytics Engine: `[[analytics_engine_datasets]]` give a Worker
`env.NAME.writeDataPoint()`: workerd's native binding, which posts each point as JSON to the
shim, wrapped in a module (workerd_config/assets/analytics-engine.js) that throws workerd's
TypeErrors for a point over the limits. The shim keeps the points in
`analytics/engine.sqlite`, one table per dataset, and the v4 SQL API
(`POST /accounts/ID/analytics_engine/sql`) answers over them (shim/analytics/store.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.analytics.store import MEMBERS, AnalyticsStore, Point, QueryError
from groundflare.shim.api.envelope import ApiError
from groundflare.shim.api.routes import ACCOUNT, Call, Route
from groundflare.shim.clock import Clock
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.kinds import Kind, Served
from groundflare.shim.messages import BodyTooLarge, Request, Response
from groundflare.workerd_config.model import Module, RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section

DATASET_HEADER = "x-groundflare-dataset"
MODULE_NAME = "groundflare-internal:analytics-engine"
MODULE = Path(__file__).resolve().parents[2] / "workerd_config" / "assets" / "analytics-engine.js"
# Every dataset of the stack lives in one store, so one SQL query can read any of them.
ENGINE = ResourceSpec(kind="analytics", id="engine", name="engine")
MAX_SQL_BYTES = 256 * 1024


class DatasetEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    # wrangler: the binding's name when not given.
    dataset: ResourceName | None = None


class AnalyticsBinding(ResourceBinding):
    """`env.NAME`: the module around workerd's `analyticsEngine` binding. Its service, one per
    dataset, tells the shim the dataset (workerd only sends the service's name)."""

    kind: Literal["analytics-engine"] = "analytics-engine"
    dataset: str

    @property
    def service(self) -> str:
        return f"{super().service}-{file_part(self.dataset)}"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        inner = [{"name": "engine", "analyticsEngine": self.service}]
        return {"name": self.name, "wrapped": {"moduleName": MODULE_NAME, "innerBindings": inner}}

    def capnp_extensions(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [{**Module(name=MODULE_NAME, path=MODULE).capnp(ctx), "internal": True}]

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        (service,) = super().capnp_services(ctx)
        http = service["external"]["http"]
        http["injectRequestHeaders"] = [
            *http["injectRequestHeaders"],
            {"name": DATASET_HEADER, "value": self.dataset},
        ]
        service["name"] = self.service
        return [service]


class Event(BaseModel):
    """What workerd posts for one writeDataPoint(): blobs and the index as byte arrays."""

    model_config = ConfigDict(extra="allow")
    index1: list[int] = []

    def point(self, dataset: str) -> Point:
        extra = self.model_extra or {}
        blobs = [extra.get(f"blob{i}") for i in range(1, MEMBERS + 1)]
        while blobs and blobs[-1] is None:
            blobs.pop()
        doubles = [float(extra.get(f"double{i}", 0)) for i in range(1, MEMBERS + 1)]
        return Point(
            dataset=dataset,
            index1=_text(self.index1) or "",
            blobs=[_text(blob) for blob in blobs],
            doubles=doubles,
        )


def _text(value: Any) -> str | None:
    return None if value is None else bytes(value).decode("utf-8", "replace")


async def handle(store: AnalyticsStore, request: Request) -> Response:
    dataset = request.headers.get(DATASET_HEADER)
    if request.method != "POST" or dataset is None:
        return Response(status=404, body=b"not part of the analytics engine protocol")
    try:
        event = Event.model_validate_json(await request.body.read(64 * 1024))
    except (BodyTooLarge, ValidationError) as exc:
        detail = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)
        return Response(status=400, body=detail.encode())
    await store.write(event.point(dataset))
    return json_response(200, b"{}")


async def sql(call: Call) -> Response:
    """Production's SQL API: the query as the body, JSON out (no v4 envelope)."""
    served = call.resources.served(ENGINE.kind, ENGINE.id)
    if served is None or not isinstance(served.resource, AnalyticsStore):
        raise ApiError(404, 7003, "no Analytics Engine dataset is bound in this stack")
    try:
        query = (await call.request.body.read(MAX_SQL_BYTES)).decode("utf-8")
        answer = await served.resource.query(query)
    except (BodyTooLarge, UnicodeDecodeError) as exc:
        return Response(status=400, body=f"cannot read the query: {exc}".encode())
    except QueryError as exc:
        return Response(status=422, body=str(exc).encode())
    return json_response(200, orjson.dumps(answer))


class AnalyticsKind(Kind):
    name = ENGINE.kind
    wrangler_field = "analytics_engine_datasets"
    entry = DatasetEntry
    folder = "analytics"

    def binding(self, entry: DatasetEntry) -> AnalyticsBinding:
        dataset = entry.dataset or entry.binding
        return AnalyticsBinding(name=entry.binding, resource=ENGINE, dataset=dataset)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        store = AnalyticsStore(folder / "engine.sqlite", clock.now)
        handlers = {spec.tag: partial(handle, store)}
        return Served(resource=store, handlers=handlers, file=store.path, what="analytics engine")

    def routes(self) -> list[Route]:
        return [Route("POST", f"{ACCOUNT}/analytics_engine/sql", sql)]


KIND = AnalyticsKind()
