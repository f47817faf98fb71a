"""The shim's aiohttp application: route each request to its resource by the workerd tag."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from shim.config import ShimConfig
from shim.d1 import binding as d1_binding
from shim.d1 import legacy as d1_legacy
from shim.d1.engine import Database, database_file
from shim.http import json_response
from workerd_config.shim import RESOURCE_HEADER, TOKEN_HEADER

HEALTH_PATH = "/_groundflare/health"
# A D1 request carries at most 1,000 statements of at most 100 KB each (plus JSON framing).
MAX_REQUEST_BYTES = 128 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    """Routing errors share D1's failure shape, so any binding shows the message."""
    return json_response(status, orjson.dumps({"success": False, "error": message}))


@dataclass
class Resources:
    handlers: dict[str, Handler]
    databases: list[Database]


def build_resources(config: ShimConfig) -> Resources:
    handlers: dict[str, Handler] = {}
    databases = []
    for entry in config.d1:
        db = Database(database_file(config.d1_dir, entry.name, entry.id), label=entry.name)
        databases.append(db)
        handlers[f"d1:{entry.id}"] = lambda request, db=db: d1_binding.handle(db, request)
        handlers[f"d1-http:{entry.id}"] = lambda request, db=db: d1_legacy.handle(db, request)
    return Resources(handlers=handlers, databases=databases)


def create_app(config: ShimConfig, token: str) -> web.Application:
    resources = build_resources(config)
    expected = token.encode("utf-8")

    async def dispatch(request: web.Request) -> web.StreamResponse:
        tag = request.headers.get(RESOURCE_HEADER)
        if tag is None:
            if request.path == HEALTH_PATH:
                return json_response(200, b'{"ok":true}')
            return _error(
                400, f"missing {RESOURCE_HEADER} header: the shim only answers workerd bindings"
            )
        presented = request.headers.get(TOKEN_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(presented, expected):
            return _error(403, f"missing or invalid {TOKEN_HEADER}")
        handler = resources.handlers.get(tag)
        if handler is None:
            return _error(404, f"unknown resource {tag!r}")
        return await handler(request)

    async def lifecycle(app: web.Application):
        await asyncio.gather(*(db.executor.run(db.open) for db in resources.databases))
        yield
        for db in resources.databases:
            await db.executor.run(db.close)
            db.executor.close()

    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_route("*", "/{path:.*}", dispatch)
    app.cleanup_ctx.append(lifecycle)
    return app
