"""The Secrets Store: `[[secrets_store_secrets]]` gives a Worker `env.NAME.get()`, a `wrapped`
binding (workerd_config/assets/secrets-store.js) that fetches the secret's ciphertext from the
shim and decrypts it with the install's key (shim/secrets_store/vault.py).

Its store and handler are imported in `serve()`, on first use: every start of the shim and
the supervisor imports every kind, most of them unused."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.shim.secrets_store import vault
from groundflare.workerd_config.model import Module, RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section

MODULE_NAME = "groundflare-internal:secrets-store"
MODULE = Path(__file__).resolve().parents[2] / "workerd_config" / "assets" / "secrets-store.js"


class SecretEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    store_id: ResourceName
    secret_name: ResourceName


class SecretBinding(ResourceBinding):
    kind: Literal["secrets-store"] = "secrets-store"
    secret_name: str

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        inner = [
            {"name": "fetcher", "service": self.service},
            {"name": "store_id", "json": json.dumps(self.resource.id)},
            {"name": "secret_name", "json": json.dumps(self.secret_name)},
            {"name": "key", "fromEnvironment": vault.KEY_ENV},
        ]
        return {"name": self.name, "wrapped": {"moduleName": MODULE_NAME, "innerBindings": inner}}

    def capnp_extensions(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [{**Module(name=MODULE_NAME, path=MODULE).capnp(ctx), "internal": True}]


class SecretsStoreKind(Kind):
    name = "secrets-store"
    wrangler_field = "secrets_store_secrets"
    entry = SecretEntry
    folder = "secrets-store"

    def binding(self, entry: SecretEntry) -> SecretBinding:
        store = ResourceSpec(kind=self.name, id=entry.store_id)
        return SecretBinding(name=entry.binding, resource=store, secret_name=entry.secret_name)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.secrets_store.store import SecretsStore, handle

        store = SecretsStore(self.location(spec, folder))
        handlers = {spec.tag: partial(handle, store)}
        return Served(resource=store, handlers=handlers, file=store.path, what="secrets store")

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / f"{file_part(spec.id)}.sqlite"


KIND = SecretsStoreKind()
