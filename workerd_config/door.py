"""The door Worker in the rendered config (contracts/door.py says what it is for)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from groundflare.contracts.door import DOOR_HEADER, DOOR_SOCKET_NAME, DoorAddress
from groundflare.workerd_config.model import Module, RenderContext, Stack

DOOR_SERVICE = "groundflare-door"
DOOR_WORKER = Path(__file__).resolve().parent / "assets" / "door.js"
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
