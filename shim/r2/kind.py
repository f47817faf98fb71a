"""R2: `[[r2_buckets]]`, workerd's native R2 binding speaking HTTP to the shim, an index and
blob files per bucket (`r2/<bucket>/`).

Its store, handlers and routes are imported in `serve()` and `routes()`, on first use: every
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
from groundflare.workerd_config.model import RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section


class R2BucketEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    bucket_name: ResourceName | None = None
    preview_bucket_name: ResourceName | None = None
    jurisdiction: str | None = None


class R2Binding(ResourceBinding):
    """`env.BUCKET`: workerd's native R2 binding, speaking HTTP to the shim."""

    kind: Literal["r2"] = "r2"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "r2Bucket": self.service}


class R2Kind(Kind):
    name = "r2"
    wrangler_field = "r2_buckets"
    entry = R2BucketEntry
    folder = "r2"

    def binding(self, entry: R2BucketEntry) -> R2Binding:
        """Locally, a missing bucket name falls back to the binding name, as wrangler does."""
        bucket = ResourceSpec(kind=self.name, id=entry.bucket_name or entry.binding)
        return R2Binding(name=entry.binding, resource=bucket)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.r2 import binding
        from groundflare.shim.r2.store import R2Store

        store = R2Store(folder / file_part(spec.id), clock)
        handlers = {spec.tag: partial(binding.handle, store)}
        return Served(resource=store, handlers=handlers, file=store.index.path, what="r2 index")

    def routes(self) -> list[Route]:
        from groundflare.shim.r2 import rest

        return rest.routes()

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / file_part(spec.id)


KIND = R2Kind()
