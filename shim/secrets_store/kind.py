"""The Secrets Store: `[[secrets_store_secrets]]` gives a Worker `env.NAME.get()`, a `wrapped`
binding (workerd_config/assets/secrets-store.js) that fetches the secret's ciphertext from the
shim and decrypts it with the install's key (shim/secrets_store/vault.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import apsw
import orjson
from pydantic import Field

from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.http import json_response
from groundflare.shim.kinds import Kind, Served
from groundflare.shim.messages import Request, Response
from groundflare.shim.secrets_store import vault
from groundflare.shim.snapshot import backup_into, restore_from
from groundflare.workerd_config.model import Module, RenderContext, ResourceBinding
from groundflare.workerd_config.wrangler_schema import BINDING_NAME, ResourceName, Section

MODULE_NAME = "groundflare-internal:secrets-store"
MODULE = Path(__file__).resolve().parents[2] / "workerd_config" / "assets" / "secrets-store.js"
SNAPSHOT_FILE = "store.sqlite"


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


class SecretsStore:
    """The shim's handle on one store's file: it reads ciphertext, never a key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: apsw.Connection | None = None

    async def open(self) -> None:
        self.conn = await asyncio.to_thread(vault.open_store, self.path)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    async def snapshot(self, into: Path) -> None:
        assert self.conn is not None
        await asyncio.to_thread(backup_into, self.conn, into / SNAPSHOT_FILE)

    async def restore(self, source: Path) -> None:
        assert self.conn is not None
        await asyncio.to_thread(restore_from, self.conn, source / SNAPSHOT_FILE)


async def handle(store: SecretsStore, request: Request) -> Response:
    name = unquote(request.path.removeprefix("/secrets/"))
    if request.method != "GET" or not request.path.startswith("/secrets/") or store.conn is None:
        return Response(status=404, body=b"not part of the secrets store protocol")
    found = await asyncio.to_thread(vault.sealed, store.conn, name)
    if found is None:
        return Response(status=404, body=b"{}")
    nonce, value = found
    body = {"nonce": base64.b64encode(nonce).decode(), "value": base64.b64encode(value).decode()}
    return json_response(200, orjson.dumps(body))


class SecretsStoreKind(Kind):
    name = "secrets-store"
    wrangler_field = "secrets_store_secrets"
    entry = SecretEntry
    folder = "secrets-store"

    def binding(self, entry: SecretEntry) -> SecretBinding:
        store = ResourceSpec(kind=self.name, id=entry.store_id)
        return SecretBinding(name=entry.binding, resource=store, secret_name=entry.secret_name)

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        store = SecretsStore(self.location(spec, folder))
        handlers = {spec.tag: partial(handle, store)}
        return Served(resource=store, handlers=handlers, file=store.path, what="secrets store")

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / f"{file_part(spec.id)}.sqlite"


KIND = SecretsStoreKind()
