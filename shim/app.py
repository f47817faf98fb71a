"""The shim: resources by workerd tag, and the dispatcher the HTTP server calls."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import orjson
from pydantic import BaseModel, ValidationError

from contracts.names import file_part
from shim.clock import Clock
from shim.config import ShimConfig
from shim.d1 import binding as d1_binding
from shim.d1 import legacy as d1_legacy
from shim.d1.engine import Database, database_file
from shim.http import json_response
from shim.kv import binding as kv_binding
from shim.kv.store import KvStore
from shim.r2 import binding as r2_binding
from shim.r2.store import R2Store
from shim.resource import Resource
from shim.server import Request, Response
from shim.space import is_no_space
from shim.sqlite import damage
from workerd_config.shim import RESOURCE_HEADER, TOKEN_HEADER

HEALTH_PATH = "/_groundflare/health"
CLOCK_PATH = "/_groundflare/clock"

ResourceHandler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> Response:
    """Routing errors share D1's failure shape, so any binding shows the message."""
    return json_response(status, orjson.dumps({"success": False, "error": message}))


async def _open(resource: Resource, what: str, path: Path) -> None:
    """Open a resource; a damaged SQLite file, or no room to open one, stops the shim with
    one line naming the file and what to do.

    Nothing is replaced or repaired: starting empty over a file that may still be
    recovered would be silent loss. The line is SystemExit's, so it is the last thing
    the shim prints, and the supervisor shows it as the reason the shim failed.
    """
    try:
        await resource.open()
    except Exception as exc:
        refusal = _refusal(what, path, exc)
        if refusal is None:
            raise
        raise SystemExit(refusal) from exc


def _refusal(what: str, path: Path, exc: Exception) -> str | None:
    if is_no_space(exc):
        return (
            f"{what} {path} cannot be opened: no space left on its disk; "
            "free some space, then start again"
        )
    reason = damage(exc)
    if reason is None:
        return None
    return (
        f"{what} {path} is corrupt ({reason}): move it aside to start empty, "
        "or restore it from a backup"
    )


class ClockChange(BaseModel):
    advance: float


class Shim:
    """Every resource the stack binds, opened before the socket serves."""

    def __init__(self, config: ShimConfig, token: str) -> None:
        self._config = config
        self._token = token.encode("utf-8")
        self.clock = Clock()
        self._handlers: dict[str, ResourceHandler] = {}
        self._resources: list[tuple[Resource, str, Path]] = []
        for entry in config.d1:
            db = Database(database_file(config.d1_dir, entry.name, entry.id), label=entry.name)
            handler = partial(d1_binding.handle, db)
            self._add(db, f"d1:{entry.id}", handler, "d1 database", db.path)
            self._handlers[f"d1-http:{entry.id}"] = partial(d1_legacy.handle, db)
        for namespace in config.kv:
            kv = KvStore(config.kv_dir / file_part(namespace.id), self.clock)
            handler = partial(kv_binding.handle, kv)
            self._add(kv, f"kv:{namespace.id}", handler, "kv index", kv.index.path)
        for bucket in config.r2:
            r2 = R2Store(config.r2_dir / file_part(bucket.name), self.clock)
            handler = partial(r2_binding.handle, r2)
            self._add(r2, f"r2:{bucket.name}", handler, "r2 index", r2.index.path)

    def _add(
        self, resource: Resource, tag: str, handler: ResourceHandler, what: str, file: Path
    ) -> None:
        """`what` and `file`: the resource's SQLite file, as messages name it."""
        self._resources.append((resource, what, file))
        self._handlers[tag] = handler

    async def open(self) -> None:
        await asyncio.gather(*(_open(*entry) for entry in self._resources))

    async def close(self) -> None:
        await asyncio.gather(*(resource.close() for resource, _, _ in self._resources))

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
