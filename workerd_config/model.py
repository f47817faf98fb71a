"""The typed stack model: what workerd runs, independent of where it was declared."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from groundflare.contracts.cache import CACHE_RESOURCE
from groundflare.contracts.door import DoorAddress
from groundflare.contracts.names import file_part
from groundflare.contracts.queues import QueueConsumer, queue_resource
from groundflare.contracts.resources import (
    RESOURCE_HEADER,
    TOKEN_HEADER,
    ResourceSpec,
    resource_tag,
    service_name,
)
from groundflare.workerd_config import capnp
from groundflare.workerd_config.wrangler_schema import ModuleRule

REDACTED_TOKEN = "<per-boot shim token>"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShimAddress(Model):
    """Where the shim listens and the token it expects (absent when only rendering a preview)."""

    socket: Path
    token: str | None = None


class RenderContext(Model):
    shim: ShimAddress
    # The stack's internal door (contracts/door.py); none when only rendering a preview.
    door: DoorAddress | None = None
    config_dir: Path
    # Where Durable Object storage lives (`<data dir>/do`); one folder per Worker.
    do_dir: Path = Path("do")


def shim_service(ctx: RenderContext, kind: str, resource_id: str) -> dict[str, Any]:
    """The workerd service that reaches the shim for one resource: its tag and the token
    ride on every request it carries."""
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


class BindingModel(Model):
    """What a Worker's `env.NAME` is, and what workerd needs to serve it.

    Binding kinds served by the shim (shim/<kind>/kind.py) subclass this too: a new kind
    brings its own binding model, nothing here changes.
    """

    # Built when first validated: the shim imports every kind's binding model and never
    # builds a binding (start time).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: str
    name: str

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        raise NotImplementedError

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The services this binding needs beside the Worker (the shim's, for a resource)."""
        return []

    def capnp_extensions(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """Internal modules it needs in the config's `extensions` (a `wrapped` binding's)."""
        return []

    def resources(self) -> list[ResourceSpec]:
        """The shim resources this binding reaches."""
        return []


class TextBinding(BindingModel):
    kind: Literal["text"] = "text"
    value: str

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "text": self.value}


class JsonBinding(BindingModel):
    kind: Literal["json"] = "json"
    value: Any

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "json": json.dumps(self.value, ensure_ascii=False)}


class SecretBinding(BindingModel):
    """A secret reaches workerd only through its environment (`fromEnvironment`)."""

    kind: Literal["secret"] = "secret"
    env: str

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "fromEnvironment": self.env}


class ResourceBinding(BindingModel):
    """A binding that reaches one shim resource through its own tagged service: what binding
    kinds' models (shim/<kind>/kind.py) build on; they say only what `env.NAME` is."""

    resource: ResourceSpec

    @property
    def service_kind(self) -> str:
        """The handler the service reaches (the resource's kind unless said otherwise)."""
        return self.resource.kind

    @property
    def service(self) -> str:
        return service_name(self.service_kind, self.resource.id)

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [shim_service(ctx, self.service_kind, self.resource.id)]

    def resources(self) -> list[ResourceSpec]:
        return [self.resource]


class ShimServiceBinding(ResourceBinding):
    """`env.NAME` as a Fetcher reaching one of the shim's handlers for a resource:
    `handler` names it (`d1-http` for a D1 database's legacy HTTP API)."""

    kind: Literal["shim-service"] = "shim-service"
    handler: str

    @property
    def service_kind(self) -> str:
        return self.handler

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        return {"name": self.name, "service": self.service}


class DurableObjectBinding(BindingModel):
    """`env.COUNTER`: a namespace of a class this Worker (or `worker`) exports."""

    kind: Literal["durable-object"] = "durable-object"
    class_name: str
    # The Worker that defines the class, when it is another one (wrangler's script_name).
    worker: str | None = None

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        target: dict[str, Any] = {"className": self.class_name}
        if self.worker is not None:
            target["serviceName"] = self.worker
        return {"name": self.name, "durableObjectNamespace": target}


class ServiceBinding(BindingModel):
    """`env.AUTH`: another Worker of the stack ([[services]]), optionally a named entrypoint."""

    kind: Literal["service"] = "service"
    service: str
    entrypoint: str | None = None
    # The target's assets router, when it has [assets]: production sends the default
    # entrypoint's fetch() through it (RPC still reaches the Worker; assets/router.js).
    router: str | None = None

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        target: dict[str, Any] = {"name": self.service}
        if self.entrypoint is not None:
            target["entrypoint"] = self.entrypoint
        elif self.router is not None:
            target = {"name": self.router, "entrypoint": "ServiceBinding"}
        return {"name": self.name, "service": target}


class VersionMetadataBinding(BindingModel):
    """`env.CF_VERSION_METADATA` ([version_metadata]): production's `{id, tag, timestamp}`
    of the running version; groundflare/build.py derives them from the modules."""

    kind: Literal["version-metadata"] = "version-metadata"
    id: str = ""
    tag: str = ""
    timestamp: str = ""

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        value = {"id": self.id, "tag": self.tag, "timestamp": self.timestamp}
        return {"name": self.name, "json": json.dumps(value)}


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
    """wrangler's bundling fields: `no_bundle`, `minify`, `define`, `alias`, `keep_names`,
    `tsconfig`, `jsx_*`, and the `[[rules]]` every bundled import is matched against."""

    enabled: bool = True
    minify: bool = False
    define: dict[str, str] = {}
    alias: dict[str, str] = {}
    keep_names: bool = True
    tsconfig: Path | None = None
    jsx_factory: str | None = None
    jsx_fragment: str | None = None
    rules: list[ModuleRule] = []
    # Where esbuild runs and aliases resolve from (wrangler's project root: the config's folder).
    project_root: Path | None = None


class Worker(Model):
    name: str
    modules: list[Module] = Field(min_length=1)
    compatibility_date: date
    compatibility_flags: list[str] = []
    bindings: list[SerializeAsAny[BindingModel]] = []
    durable_objects: list[DurableObjectClass] = []
    bundling: BundleSettings = BundleSettings()
    assets: AssetsSettings | None = None
    # [triggers] crons, as written (Cloudflare's syntax; workerd_config/crons.py reads it).
    crons: list[str] = []
    # The queues it consumes ([[queues.consumers]]); the shim delivers their batches.
    queue_consumers: list[QueueConsumer] = []
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


# Where the Workers' own fetch() and connect() may go (workerd_config/outbound.py).
OutboundPolicy = Literal["public", "private", "all"]


class Stack(Model):
    workers: list[Worker] = Field(min_length=1)
    outbound: OutboundPolicy = "all"
    # The Cache API kept by the shim (docs/cache.md); off: every match() misses (--no-cache).
    cache: bool = True

    def resources(self) -> list[ResourceSpec]:
        """Every shim resource some binding reaches, once each, in order of appearance."""
        found: dict[str, ResourceSpec] = {}
        for worker in self.workers:
            for binding in worker.bindings:
                for resource in binding.resources():
                    found.setdefault(resource.tag, resource)
            for consumer in worker.queue_consumers:
                for queue in filter(None, (consumer.queue, consumer.dead_letter_queue)):
                    resource = queue_resource(queue)
                    found.setdefault(resource.tag, resource)
        return list(found.values())

    def served_resources(self) -> list[ResourceSpec]:
        """What the shim serves: every binding's resource and the Cache API's store."""
        return self.resources() + ([CACHE_RESOURCE] if self.cache else [])

    def queue_consumers(self) -> list[QueueConsumer]:
        return [consumer for worker in self.workers for consumer in worker.queue_consumers]

    def secret_envs(self) -> list[str]:
        return [b.env for w in self.workers for b in w.bindings if isinstance(b, SecretBinding)]
