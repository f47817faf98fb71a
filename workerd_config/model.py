"""The typed stack model: what workerd runs, independent of where it was declared."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workerd_config import capnp
from workerd_config.shim import (
    RESOURCE_HEADER,
    TOKEN_HEADER,
    ResourceKind,
    resource_tag,
    service_name,
)

REDACTED_TOKEN = "<per-boot shim token>"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShimAddress(Model):
    """Where the shim listens and the token it expects (absent when only rendering a preview)."""

    socket: Path
    token: str | None = None


class RenderContext(Model):
    shim: ShimAddress
    config_dir: Path


def _shim_service(ctx: RenderContext, kind: ResourceKind, resource_id: str) -> dict[str, Any]:
    headers = [
        {"name": RESOURCE_HEADER, "value": resource_tag(kind, resource_id)},
        {"name": TOKEN_HEADER, "value": ctx.shim.token or REDACTED_TOKEN},
    ]
    return {
        "name": service_name(kind, resource_id),
        "external": {
            "address": f"unix:{ctx.shim.socket}",
            "http": {"injectRequestHeaders": headers},
        },
    }


class TextBinding(Model):
    kind: Literal["text"] = "text"
    name: str
    value: str

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "text": self.value}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return []


class JsonBinding(Model):
    kind: Literal["json"] = "json"
    name: str
    value: Any

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "json": json.dumps(self.value, ensure_ascii=False)}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return []


class SecretBinding(Model):
    """A secret reaches workerd only through its environment (`fromEnvironment`)."""

    kind: Literal["secret"] = "secret"
    name: str
    env: str

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "fromEnvironment": self.env}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return []


class D1Database(Model):
    id: str
    name: str


class D1Binding(Model):
    """`env.DB`: workerd's d1-api module wrapped around a fetcher that reaches the shim."""

    kind: Literal["d1"] = "d1"
    name: str
    database: D1Database

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        fetcher = {"name": "fetcher", "service": service_name("d1", self.database.id)}
        return {
            "name": self.name,
            "wrapped": {"moduleName": "cloudflare-internal:d1-api", "innerBindings": [fetcher]},
        }

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [_shim_service(ctx, "d1", self.database.id)]


class D1HttpBinding(Model):
    """A service binding to the shim's legacy HTTP D1 endpoints (for `D1_HTTP_URL` adapters)."""

    kind: Literal["d1-http"] = "d1-http"
    name: str
    database: D1Database

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "service": service_name("d1-http", self.database.id)}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [_shim_service(ctx, "d1-http", self.database.id)]


class KvNamespace(Model):
    id: str


class KvBinding(Model):
    """`env.KV`: workerd's native KV binding, speaking HTTP to the shim."""

    kind: Literal["kv"] = "kv"
    name: str
    namespace: KvNamespace

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "kvNamespace": service_name("kv", self.namespace.id)}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [_shim_service(ctx, "kv", self.namespace.id)]


class R2Bucket(Model):
    name: str


class R2Binding(Model):
    """`env.BUCKET`: workerd's native R2 binding, speaking HTTP to the shim."""

    kind: Literal["r2"] = "r2"
    name: str
    bucket: R2Bucket

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "r2Bucket": service_name("r2", self.bucket.name)}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [_shim_service(ctx, "r2", self.bucket.name)]


Binding = Annotated[
    TextBinding | JsonBinding | SecretBinding | D1Binding | D1HttpBinding | KvBinding | R2Binding,
    Field(discriminator="kind"),
]

ModuleType = Literal["esModule", "commonJsModule", "text", "data", "wasm", "json"]


class Module(Model):
    name: str
    path: Path
    type: ModuleType = "esModule"

    def capnp(self, ctx: RenderContext) -> dict[str, Any]:
        return {
            "name": self.name,
            self.type: capnp.Embed(os.path.relpath(self.path, ctx.config_dir)),
        }


class Worker(Model):
    name: str
    modules: list[Module] = Field(min_length=1)
    compatibility_date: date
    compatibility_flags: list[str] = []
    bindings: list[Binding] = []
    port: int = Field(default=0, ge=0, le=65535)

    @property
    def socket_name(self) -> str:
        return f"http-{self.name}"

    def capnp(self, ctx: RenderContext) -> dict[str, Any]:
        return {
            "compatibilityDate": self.compatibility_date.isoformat(),
            "compatibilityFlags": self.compatibility_flags,
            "modules": [module.capnp(ctx) for module in self.modules],
            "bindings": [binding.capnp_binding(ctx) for binding in self.bindings],
        }


class Stack(Model):
    workers: list[Worker] = Field(min_length=1)

    def d1_databases(self) -> list[D1Database]:
        found: dict[str, D1Database] = {}
        for worker in self.workers:
            for binding in worker.bindings:
                if isinstance(binding, D1Binding | D1HttpBinding):
                    found.setdefault(binding.database.id, binding.database)
        return list(found.values())

    def kv_namespaces(self) -> list[KvNamespace]:
        found = {
            b.namespace.id: b.namespace
            for w in self.workers
            for b in w.bindings
            if isinstance(b, KvBinding)
        }
        return list(found.values())

    def r2_buckets(self) -> list[R2Bucket]:
        found = {
            b.bucket.name: b.bucket
            for w in self.workers
            for b in w.bindings
            if isinstance(b, R2Binding)
        }
        return list(found.values())

    def secret_envs(self) -> list[str]:
        return [b.env for w in self.workers for b in w.bindings if isinstance(b, SecretBinding)]
