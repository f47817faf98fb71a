"""The typed stack model: what workerd runs, independent of where it was declared."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.names import file_part
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
    # Where Durable Object storage lives (`<data dir>/do`); one folder per Worker.
    do_dir: Path = Path("do")


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


class DurableObjectBinding(Model):
    """`env.COUNTER`: a namespace of a class this Worker (or `worker`) exports."""

    kind: Literal["durable-object"] = "durable-object"
    name: str
    class_name: str
    # The Worker that defines the class, when it is another one (wrangler's script_name).
    worker: str | None = None

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        target: dict[str, Any] = {"className": self.class_name}
        if self.worker is not None:
            target["serviceName"] = self.worker
        return {"name": self.name, "durableObjectNamespace": target}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return []


class ServiceBinding(Model):
    """`env.AUTH`: another Worker of the stack ([[services]]), optionally a named entrypoint."""

    kind: Literal["service"] = "service"
    name: str
    service: str
    entrypoint: str | None = None

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        target: dict[str, Any] = {"name": self.service}
        if self.entrypoint is not None:
            target["entrypoint"] = self.entrypoint
        return {"name": self.name, "service": target}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return []


Binding = Annotated[
    TextBinding
    | JsonBinding
    | SecretBinding
    | D1Binding
    | D1HttpBinding
    | KvBinding
    | R2Binding
    | DurableObjectBinding
    | ServiceBinding,
    Field(discriminator="kind"),
]


class DurableObjectClass(Model):
    """A class the Worker exports as a Durable Object, from its [[migrations]]."""

    class_name: str
    # workerd keeps the class's storage in `do/<worker>/<unique_key>/`; a renamed class keeps
    # the key (its first name), so its data stays.
    unique_key: str
    enable_sql: bool


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


ASSETS_ROUTER = Path(__file__).resolve().parent / "assets" / "router.js"


class AssetsSettings(Model):
    """[assets]: a directory served in front of the Worker, as production serves it."""

    directory: Path
    binding: str | None = None
    html_handling: Literal["auto-trailing-slash", "none"] = "auto-trailing-slash"
    not_found_handling: Literal["single-page-application", "404-page", "none"] = "none"
    run_worker_first: bool = False


class BundleSettings(Model):
    """wrangler's bundling fields: `no_bundle`, `minify`, `define`."""

    enabled: bool = True
    minify: bool = False
    define: dict[str, str] = {}


class Worker(Model):
    name: str
    modules: list[Module] = Field(min_length=1)
    compatibility_date: date
    compatibility_flags: list[str] = []
    bindings: list[Binding] = []
    durable_objects: list[DurableObjectClass] = []
    bundling: BundleSettings = BundleSettings()
    assets: AssetsSettings | None = None
    port: int = Field(default=0, ge=0, le=65535)

    @property
    def socket_name(self) -> str:
        return f"http-{self.name}"

    @property
    def entry_service(self) -> str:
        """What the Worker's socket serves: the assets router in front of it, when it has one."""
        return f"assets-{self.name}" if self.assets else self.name

    @property
    def do_service(self) -> str:
        return f"do-{self.name}"

    def capnp(self, ctx: RenderContext) -> dict[str, Any]:
        bindings = [binding.capnp_binding(ctx) for binding in self.bindings]
        if self.assets and self.assets.binding:
            target = {"name": self.entry_service, "entrypoint": "AssetsBinding"}
            bindings.append({"name": self.assets.binding, "service": target})
        worker: dict[str, Any] = {
            "compatibilityDate": self.compatibility_date.isoformat(),
            "compatibilityFlags": self.compatibility_flags,
            "modules": [module.capnp(ctx) for module in self.modules],
            "bindings": bindings,
        }
        if self.durable_objects:
            worker["durableObjectNamespaces"] = [
                {"className": c.class_name, "uniqueKey": c.unique_key, "enableSql": c.enable_sql}
                for c in self.durable_objects
            ]
            worker["durableObjectStorage"] = {"localDisk": self.do_service}
        return worker

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """What the Worker itself needs besides its bindings' services: DO storage, assets."""
        services = []
        if self.durable_objects:
            folder = ctx.do_dir / file_part(self.name)
            services.append(
                {"name": self.do_service, "disk": {"path": str(folder), "writable": True}}
            )
        if self.assets:
            services += self._assets_services(ctx)
        return services

    def _assets_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        assert self.assets is not None
        folder = f"assets-dir-{self.name}"
        settings = self.assets.model_dump(mode="json", exclude={"directory", "binding"})
        router = {
            "compatibilityDate": self.compatibility_date.isoformat(),
            "modules": [Module(name="router.js", path=ASSETS_ROUTER).capnp(ctx)],
            "bindings": [
                {"name": "ASSETS_DIR", "service": folder},
                {"name": "CONFIG", "json": json.dumps(settings)},
                {"name": "USER_WORKER", "service": self.name},
            ],
        }
        return [
            {"name": folder, "disk": {"path": str(self.assets.directory), "writable": False}},
            {"name": self.entry_service, "worker": router},
        ]


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
