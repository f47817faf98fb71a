"""The request log's tail Worker in the rendered config (contracts/traces.py says what it
is for): one internal Worker that every user Worker, and the stack's outbound Worker, name
in their `tails`, each with its own name in the props."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from groundflare.contracts.traces import (
    TRACES_ID,
    TRACES_KIND,
    WORKER_HEADER,
    WORKER_PROP,
    TracedWorker,
    durable_object_tag,
)
from groundflare.workerd_config.model import (
    DurableObjectBinding,
    Module,
    RenderContext,
    Stack,
    shim_service,
)

TAIL_SERVICE = "groundflare-tail"
TAIL_WORKER = Path(__file__).resolve().parent / "assets" / "tail.js"


def tail_services(stack: Stack, ctx: RenderContext) -> list[dict[str, Any]]:
    """The tail Worker and its way to the shim (the resource `traces:local`)."""
    shim = shim_service(ctx, TRACES_KIND, TRACES_ID)
    worker = {
        "compatibilityDate": stack.workers[0].compatibility_date.isoformat(),
        "modules": [Module(name="tail.js", path=TAIL_WORKER).capnp(ctx)],
        "bindings": [
            {"name": "SHIM", "service": shim["name"]},
            {"name": "HEADER", "text": WORKER_HEADER},
        ],
    }
    return [shim, {"name": TAIL_SERVICE, "worker": worker}]


def tails(worker: str) -> list[dict[str, Any]]:
    """A Worker's `tails`: the tail Worker, told which Worker it hears from."""
    return [{"name": TAIL_SERVICE, "props": {"json": json.dumps({WORKER_PROP: worker})}}]


def traced_workers(stack: Stack) -> list[TracedWorker]:
    """What the shim needs to know of each Worker to record its invocations."""
    return [
        TracedWorker(
            name=worker.name,
            resources=[r.tag for b in worker.bindings for r in b.resources()]
            + [
                durable_object_tag(b.worker or worker.name, b.class_name)
                for b in worker.bindings
                if isinstance(b, DurableObjectBinding)
            ],
            modules={module.name: module.path for module in worker.modules},
        )
        for worker in stack.workers
    ]
