"""Where each Worker's Cache API goes (`cacheApiOutbound`): the shim's store for the stack,
tagged like a binding's resource, given the full URL and the request's `cf` (for
`cacheKey`); under
--no-cache a Worker that misses every match and drops every put (assets/cache-off.js)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from groundflare.contracts.cache import CACHE_RESOURCE, CF_BLOB_HEADER
from groundflare.contracts.resources import service_name
from groundflare.workerd_config import capnp
from groundflare.workerd_config.model import Module, RenderContext, Stack, shim_service

CACHE_OFF = Path(__file__).resolve().parent / "assets" / "cache-off.js"
CACHE_OFF_SERVICE = "cache-off"


def cache_outbound(stack: Stack) -> str:
    return (
        service_name(CACHE_RESOURCE.kind, CACHE_RESOURCE.id) if stack.cache else CACHE_OFF_SERVICE
    )


def cache_services(stack: Stack, ctx: RenderContext) -> list[dict[str, Any]]:
    if stack.cache:
        service = shim_service(ctx, CACHE_RESOURCE.kind, CACHE_RESOURCE.id)
        # The full URL in the request line (http and https keys differ), and the `cf` object.
        service["external"]["http"].update(style=capnp.Enum("proxy"), cfBlobHeader=CF_BLOB_HEADER)
        return [service]
    worker = {
        "compatibilityDate": stack.workers[0].compatibility_date.isoformat(),
        "modules": [Module(name="cache-off.js", path=CACHE_OFF).capnp(ctx)],
    }
    return [{"name": CACHE_OFF_SERVICE, "worker": worker}]
