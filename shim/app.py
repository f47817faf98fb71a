"""The shim: resources by workerd tag, and the dispatcher the HTTP server calls."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from functools import partial

import orjson
from pydantic import BaseModel, ValidationError

from shim.clock import Clock
from shim.config import ShimConfig
from shim.d1 import binding as d1_binding
from shim.d1 import legacy as d1_legacy
from shim.d1.engine import Database, database_file
from shim.http import json_response
from shim.kv import binding as kv_binding
from shim.kv.store import KvStore
from shim.names import file_part
from shim.r2 import binding as r2_binding
from shim.r2.store import R2Store
from shim.resource import Resource
from shim.server import Request, Response
from workerd_config.shim import RESOURCE_HEADER, TOKEN_HEADER

HEALTH_PATH = "/_groundflare/health"
CLOCK_PATH = "/_groundflare/clock"

ResourceHandler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> Response:
    """Routing errors share D1's failure shape, so any binding shows the message."""
    return json_response(status, orjson.dumps({"success": False, "error": message}))


class ClockChange(BaseModel):
    advance: float


class Shim:
    """Every resource the stack binds, opened before the socket serves."""

    def __init__(self, config: ShimConfig, token: str) -> None:
        self._config = config
        self._token = token.encode("utf-8")
        self.clock = Clock()
        self._handlers: dict[str, ResourceHandler] = {}
        self._resources: list[Resource] = []
        for entry in config.d1:
            db = Database(database_file(config.d1_dir, entry.name, entry.id), label=entry.name)
            self._add(db, f"d1:{entry.id}", partial(d1_binding.handle, db))
            self._handlers[f"d1-http:{entry.id}"] = partial(d1_legacy.handle, db)
        for namespace in config.kv:
            kv = KvStore(config.kv_dir / file_part(namespace.id), self.clock)
            self._add(kv, f"kv:{namespace.id}", partial(kv_binding.handle, kv))
        for bucket in config.r2:
            r2 = R2Store(config.r2_dir / file_part(bucket.name), self.clock)
            self._add(r2, f"r2:{bucket.name}", partial(r2_binding.handle, r2))

    def _add(self, resource: Resource, tag: str, handler: ResourceHandler) -> None:
        self._resources.append(resource)
        self._handlers[tag] = handler

    async def open(self) -> None:
        await asyncio.gather(*(resource.open() for resource in self._resources))

    async def close(self) -> None:
        await asyncio.gather(*(resource.close() for resource in self._resources))

    async def dispatch(self, request: Request) -> Response:
        tag = request.headers.get(RESOURCE_HEADER)
        if tag is None:
            return await self._untagged(request)
        presented = request.headers.get(TOKEN_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(presented, self._token):
            return _error(403, f"missing or invalid {TOKEN_HEADER}")
        handler = self._handlers.get(tag)
        if handler is None:
            return _error(404, f"unknown resource {tag!r}")
        return await handler(request)

    async def _untagged(self, request: Request) -> Response:
        if request.path == HEALTH_PATH:
            return json_response(200, b'{"ok":true}')
        if request.path == CLOCK_PATH and self._config.test_clock and request.method == "POST":
            try:
                change = ClockChange.model_validate_json(await request.body.read(4096))
            except ValidationError as exc:
                return _error(400, f'expected {{"advance": seconds}}: {exc.errors()[0]["msg"]}')
            self.clock.advance(change.advance)
            return json_response(200, orjson.dumps({"now": self.clock.now()}))
        return _error(
            400, f"missing {RESOURCE_HEADER} header: the shim only answers workerd bindings"
        )
