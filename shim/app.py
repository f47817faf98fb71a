"""The shim: resources by workerd tag, and the dispatcher the HTTP server calls."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

import orjson

from shim.config import ShimConfig
from shim.d1 import binding as d1_binding
from shim.d1 import legacy as d1_legacy
from shim.d1.engine import Database, database_file
from shim.http import json_response
from shim.server import Request, Response
from workerd_config.shim import RESOURCE_HEADER, TOKEN_HEADER

HEALTH_PATH = "/_groundflare/health"

ResourceHandler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> Response:
    """Routing errors share D1's failure shape, so any binding shows the message."""
    return json_response(status, orjson.dumps({"success": False, "error": message}))


class Shim:
    """Every resource the stack binds, opened before the socket serves."""

    def __init__(self, config: ShimConfig, token: str) -> None:
        self._token = token.encode("utf-8")
        self._handlers: dict[str, ResourceHandler] = {}
        self._databases: list[Database] = []
        for entry in config.d1:
            db = Database(database_file(config.d1_dir, entry.name, entry.id), label=entry.name)
            self._databases.append(db)
            self._handlers[f"d1:{entry.id}"] = lambda r, db=db: d1_binding.handle(db, r)
            self._handlers[f"d1-http:{entry.id}"] = lambda r, db=db: d1_legacy.handle(db, r)

    async def open(self) -> None:
        await asyncio.gather(*(db.executor.run(db.open) for db in self._databases))

    async def close(self) -> None:
        for db in self._databases:
            await db.executor.run(db.close)
            db.executor.close()

    async def dispatch(self, request: Request) -> Response:
        tag = request.headers.get(RESOURCE_HEADER)
        if tag is None:
            if request.path == HEALTH_PATH:
                return json_response(200, b'{"ok":true}')
            return _error(
                400, f"missing {RESOURCE_HEADER} header: the shim only answers workerd bindings"
            )
        presented = request.headers.get(TOKEN_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(presented, self._token):
            return _error(403, f"missing or invalid {TOKEN_HEADER}")
        handler = self._handlers.get(tag)
        if handler is None:
            return _error(404, f"unknown resource {tag!r}")
        return await handler(request)
