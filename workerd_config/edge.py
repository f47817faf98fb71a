"""The edge Worker in front of each Worker's port (assets/edge.js): local trigger routes
such as `/cdn-cgi/handler/scheduled` are answered by groundflare, as wrangler answers
them, never by the Worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from groundflare.workerd_config.door import DOOR_FLAGS
from groundflare.workerd_config.model import Module, RenderContext, Worker

EDGE_WORKER = Path(__file__).resolve().parent / "assets" / "edge.js"


def edge_service_name(worker: Worker) -> str:
    return f"edge-{worker.name}"


def edge_service(worker: Worker, ctx: RenderContext) -> dict[str, Any]:
    edge = {
        "compatibilityDate": worker.compatibility_date.isoformat(),
        "compatibilityFlags": DOOR_FLAGS,
        "modules": [Module(name="edge.js", path=EDGE_WORKER).capnp(ctx)],
        "bindings": [
            {"name": "WORKER", "service": worker.name},
            {"name": "NEXT", "service": worker.entry_service},
        ],
    }
    return {"name": edge_service_name(worker), "worker": edge}
