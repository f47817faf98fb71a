"""The door Worker in the rendered config (contracts/door.py says what it is for)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from groundflare.contracts.door import DOOR_HEADER, DOOR_SOCKET_NAME, DoorAddress
from groundflare.contracts.durable_objects import namespace_id
from groundflare.contracts.names import file_part
from groundflare.workerd_config.model import (
    DurableObjectBinding,
    Module,
    RenderContext,
    SecretBinding,
    Stack,
    Worker,
)

DOOR_SERVICE = "groundflare-door"
DOOR_WORKER = Path(__file__).resolve().parent / "assets" / "door.js"
BINDINGS_WORKER = Path(__file__).resolve().parent / "assets" / "bindings.js"
# Fetcher.scheduled() and .queue() on a service binding (workerd runs with --experimental).
DOOR_FLAGS = ["service_binding_extra_handlers"]
# And workerd:unsafe, to abort Durable Objects before a snapshot is taken or restored.
DOOR_ONLY_FLAGS = ["unsafe_module"]


def door_service(stack: Stack, ctx: RenderContext, door: DoorAddress) -> dict[str, Any]:
    targets = {worker.name: f"WORKER_{index}" for index, worker in enumerate(stack.workers)}
    bindings: list[dict[str, Any]] = [
        {"name": "TOKEN", "text": door.token},
        {"name": "HEADER", "text": DOOR_HEADER},
        {"name": "WORKERS", "json": json.dumps(targets)},
    ]
    bindings += [{"name": binding, "service": name} for name, binding in targets.items()]
    proxies = {worker.name: f"BINDINGS_{index}" for index, worker in enumerate(stack.workers)}
    listing = {worker.name: proxied_kinds(worker) for worker in stack.workers}
    bindings += [
        {"name": "BINDING_PROXIES", "json": json.dumps(proxies)},
        {"name": "BINDINGS", "json": json.dumps(listing)},
        {"name": "RESOURCES", "json": json.dumps(resource_bindings(stack))},
        {"name": "NAMESPACES", "json": json.dumps(durable_object_namespaces(stack))},
    ]
    bindings += [
        {"name": binding, "service": bindings_service_name(name)}
        for name, binding in proxies.items()
    ]
    worker = {
        "compatibilityDate": stack.workers[0].compatibility_date.isoformat(),
        "compatibilityFlags": DOOR_FLAGS + DOOR_ONLY_FLAGS,
        "modules": [Module(name="door.js", path=DOOR_WORKER).capnp(ctx)],
        "bindings": bindings,
    }
    return {"name": DOOR_SERVICE, "worker": worker}


def door_socket(door: DoorAddress) -> dict[str, Any]:
    return {
        "name": DOOR_SOCKET_NAME,
        "address": f"unix:{door.socket}",
        "http": {},
        "service": DOOR_SERVICE,
    }


def bindings_service_name(worker: str) -> str:
    return f"groundflare-bindings-{worker}"


def proxied_kinds(worker: Worker) -> dict[str, str]:
    """The bindings Python reaches through the door, by name: every one but secrets, which
    stay with the Worker."""
    return {b.name: b.kind for b in worker.bindings if not isinstance(b, SecretBinding)}


def resource_bindings(stack: Stack) -> dict[str, list[str]]:
    """The bindings (`worker.NAME`) that reach each shim resource, by its tag: how a test
    report names the binding calls the shim recorded."""
    found: dict[str, list[str]] = {}
    for worker in stack.workers:
        for binding in worker.bindings:
            for resource in binding.resources():
                found.setdefault(resource.tag, []).append(f"{worker.name}.{binding.name}")
    return found


def durable_object_namespaces(stack: Stack) -> dict[str, dict[str, str]]:
    """Each Worker's Durable Object bindings and the v4 id of the namespace behind each (the
    class's storage folder): what `stack.durable_object(...).sql()` queries. A class defined
    outside the stack has no storage here and is left out."""
    keys = {(w.name, c.class_name): c.unique_key for w in stack.workers for c in w.durable_objects}
    found: dict[str, dict[str, str]] = {}
    for worker in stack.workers:
        for binding in worker.bindings:
            if not isinstance(binding, DurableObjectBinding):
                continue
            owner = binding.worker or worker.name
            key = keys.get((owner, binding.class_name))
            if key is not None:
                found.setdefault(worker.name, {})[binding.name] = namespace_id(
                    file_part(owner), key
                )
    return found


def bindings_service(worker: Worker, ctx: RenderContext) -> dict[str, Any]:
    """A Worker holding `worker`'s bindings under the same compatibility date and flags
    (assets/bindings.js): Python's binding calls get exactly what the Worker's code gets.
    A Durable Object namespace names its Worker, which defines the class."""
    kinds = proxied_kinds(worker)
    bindings = [{"name": "KINDS", "json": json.dumps(kinds)}]
    for binding in worker.bindings:
        if binding.name not in kinds:
            continue
        if isinstance(binding, DurableObjectBinding) and binding.worker is None:
            binding = binding.model_copy(update={"worker": worker.name})
        bindings.append(binding.capnp_binding(ctx))
    proxy = {
        "compatibilityDate": worker.compatibility_date.isoformat(),
        "compatibilityFlags": worker.compatibility_flags,
        "modules": [Module(name="bindings.js", path=BINDINGS_WORKER).capnp(ctx)],
        "bindings": bindings,
    }
    return {"name": bindings_service_name(worker.name), "worker": proxy}
