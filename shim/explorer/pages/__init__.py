"""Every page of the explorer, by module: each lists its ROUTES (method, path after
/explorer, handler)."""

from __future__ import annotations

from groundflare.shim.explorer.pages import (
    cron,
    d1,
    do,
    kv,
    log,
    openapi,
    overview,
    queues,
    r2,
)
from groundflare.shim.explorer.web import Handler

ROUTES: list[tuple[str, str, Handler]] = [
    *overview.ROUTES,
    *d1.ROUTES,
    *kv.ROUTES,
    *r2.ROUTES,
    *do.ROUTES,
    *queues.ROUTES,
    *cron.ROUTES,
    *log.ROUTES,
    *openapi.ROUTES,
]
