"""Workers Analytics Engine: `[[analytics_engine_datasets]]` give a Worker
`env.NAME.writeDataPoint()`: workerd's native binding, which posts each point as JSON to the
shim, wrapped in a module (workerd_config/assets/analytics-engine.js) that throws workerd's
TypeErrors for a point over the limits. The shim keeps the points in
`analytics/engine.sqlite`, one table per dataset, and the v4 SQL API
(`POST /accounts/ID/analytics_engine/sql`) answers over them (shim/analytics/store.py).

Its store, handler and route are imported in `serve()` and `routes()`, on first use: every
start of the shim and the supervisor imports every kind, most of them unused."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.api.routes import Route
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.workerd_config.model import Module, RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section

DATASET_HEADER = "x-groundflare-dataset"
MODULE_NAME = "groundflare-internal:analytics-engine"
MODULE = Path(__file__).resolve().parents[2] / "workerd_config" / "assets" / "analytics-engine.js"
# Every dataset of the stack lives in one store, so one SQL query can read any of them.
ENGINE = ResourceSpec(kind="analytics", id="engine", name="engine")


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


class AnalyticsKind(Kind):
    name = ENGINE.kind
    wrangler_field = "analytics_engine_datasets"
    entry = DatasetEntry
    folder = "analytics"

    def binding(self, entry: DatasetEntry) -> AnalyticsBinding:
        dataset = entry.dataset or entry.binding
        return AnalyticsBinding(name=entry.binding, resource=ENGINE, dataset=dataset)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.analytics.binding import handle
        from groundflare.shim.analytics.store import AnalyticsStore

        store = AnalyticsStore(folder / "engine.sqlite", clock.now)
        handlers = {spec.tag: partial(handle, store)}
        return Served(resource=store, handlers=handlers, file=store.path, what="analytics engine")

    def routes(self) -> list[Route]:
        from groundflare.shim.analytics import rest

        return rest.routes()


KIND = AnalyticsKind()
