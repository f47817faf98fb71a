"""D1: `[[d1_databases]]`, workerd's d1-api module around a fetcher to the shim, one SQLite
file per database (`d1/<name>-<id>.sqlite`).

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


class D1DatabaseEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    database_name: ResourceName | None = None
    database_id: ResourceName | None = None
    preview_database_id: ResourceName | None = None
    migrations_dir: str | None = None
    migrations_table: str | None = None


class D1Binding(ResourceBinding):
    """`env.DB`: workerd's d1-api module wrapped around a fetcher that reaches the shim."""

    kind: Literal["d1"] = "d1"
    # The entry's migrations_dir (relative to its config's folder) and migrations_table:
    # what the explorer offers to apply (contracts/d1_migrations.py).
    migrations_dir: str | None = None
    migrations_table: str | None = None

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        fetcher = {"name": "fetcher", "service": self.service}
        return {
            "name": self.name,
            "wrapped": {"moduleName": "cloudflare-internal:d1-api", "innerBindings": [fetcher]},
        }


class D1Kind(Kind):
    name = "d1"
    wrangler_field = "d1_databases"
    entry = D1DatabaseEntry
    folder = "d1"

    def binding(self, entry: D1DatabaseEntry) -> D1Binding:
        """Locally, a missing id falls back to the binding name, as wrangler does."""
        database = ResourceSpec(
            kind=self.name,
            id=entry.database_id or entry.binding,
            name=entry.database_name or entry.binding,
        )
        return D1Binding(
            name=entry.binding,
            resource=database,
            migrations_dir=entry.migrations_dir,
            migrations_table=entry.migrations_table,
        )

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.d1 import binding, legacy
        from groundflare.shim.d1.engine import Database

        db = Database(self.location(spec, folder), label=spec.name)
        handlers = {
            spec.tag: partial(binding.handle, db),
            # The legacy HTTP API of the same database (groundflare.toml's d1_http).
            f"d1-http:{spec.id}": partial(legacy.handle, db),
        }
        return Served(resource=db, handlers=handlers, file=db.path, what="d1 database")

    def routes(self) -> list[Route]:
        from groundflare.shim.d1 import rest

        return rest.routes()

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        """`d1/<name>-<id>.sqlite`: readable for people and their SQLite tools."""
        return folder / f"{file_part(spec.name)}-{file_part(spec.id)}.sqlite"


KIND = D1Kind()
