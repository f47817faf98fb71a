"""The overview: the stack's Workers, how much data it holds, the latest invocations."""

from __future__ import annotations

from typing import Any

from groundflare.shim.explorer.pages.log import row_context
from groundflare.shim.explorer.v4 import V4Error
from groundflare.shim.explorer.web import Page
from groundflare.shim.messages import Response
from groundflare.shim.traces.store import Filters

LATEST = 10


async def _count(page: Page, rest: str, key: str | None = None) -> int | str:
    try:
        result: Any = await page.v4.result("GET", rest, {"per_page": "1000"})
    except V4Error:
        return "?"
    return len(result[key] if key else result)


async def overview(page: Page) -> Response:
    counts = {
        "d1": await _count(page, "/d1/database"),
        "kv": await _count(page, "/storage/kv/namespaces"),
        "r2": await _count(page, "/r2/buckets", "buckets"),
        "do": await _count(page, "/workers/durable_objects/namespaces"),
        "cron": len(page.stack.crons),
    }
    rows = None
    if page.stack.traces is not None:
        rows = [row_context(r) for r in await page.stack.traces.store.recent(Filters(), LATEST)]
    return page.render("overview.html", workers=page.stack.workers, counts=counts, rows=rows)


ROUTES = [("GET", "", overview)]
