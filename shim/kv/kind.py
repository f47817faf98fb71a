"""KV: `[[kv_namespaces]]`, workerd's native KV binding speaking HTTP to the shim, an index
and blob files per namespace (`kv/<id>/`).

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


class KvNamespaceEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    id: ResourceName | None = None
    preview_id: ResourceName | None = None


class KvBinding(ResourceBinding):
    """`env.KV`: workerd's native KV binding, speaking HTTP to the shim."""

    kind: Literal["kv"] = "kv"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "kvNamespace": self.service}


class KvKind(Kind):
    name = "kv"
    wrangler_field = "kv_namespaces"
    entry = KvNamespaceEntry
    folder = "kv"

    def binding(self, entry: KvNamespaceEntry) -> KvBinding:
        """Locally, a missing id falls back to the binding name, as wrangler does."""
        # The binding name is the namespace's title in the v4 API until it is renamed there.
        namespace = ResourceSpec(kind=self.name, id=entry.id or entry.binding, name=entry.binding)
        return KvBinding(name=entry.binding, resource=namespace)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.kv import binding
        from groundflare.shim.kv.store import KvStore

        store = KvStore(folder / file_part(spec.id), clock)
        handlers = {spec.tag: partial(binding.handle, store)}
        return Served(resource=store, handlers=handlers, file=store.index.path, what="kv index")

    def routes(self) -> list[Route]:
        from groundflare.shim.kv import rest

        return rest.routes()

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / file_part(spec.id)


KIND = KvKind()
