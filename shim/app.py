"""The shim: resources by workerd tag, and the dispatcher the HTTP server calls.

The v4 routes are listed on first use, not when the shim starts: listing them imports every
kind's REST module, and the shim's start is on the stack's cold-start path."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable
from functools import cached_property
from pathlib import Path

import orjson
from pydantic import BaseModel, ValidationError

from groundflare.contracts.failures import FailureClass
from groundflare.contracts.layout import DataDir
from groundflare.contracts.resources import RESOURCE_HEADER, TOKEN_HEADER
from groundflare.contracts.shim_config import ShimConfig
from groundflare.contracts.traces import TRACES_ID, TRACES_KIND
from groundflare.shim.api.listener import run_route
from groundflare.shim.api.routes import V4_PREFIX, Route, Router
from groundflare.shim.calls import Recorder
from groundflare.shim.clock import Clock
from groundflare.shim.door import Door, DoorError
from groundflare.shim.explorer.auth import Tickets
from groundflare.shim.http import json_response
from groundflare.shim.kinds import Handler
from groundflare.shim.live import LiveResources
from groundflare.shim.messages import Request, Response
from groundflare.shim.registry import kinds
from groundflare.shim.resource import Resource
from groundflare.shim.snapshots import SnapshotError, Snapshots, Snapshotted
from groundflare.shim.space import is_no_space
from groundflare.shim.sqlite import damage
from groundflare.shim.traces.recorder import Traces

HEALTH_PATH = "/_groundflare/health"
CLOCK_PATH = "/_groundflare/clock"
SNAPSHOTS_PATH = "/_groundflare/snapshots/"
# POST .../start records every binding call from then on; POST .../stop answers them.
CALLS_PATH = "/_groundflare/calls/"
# POST: a one-time login ticket for the explorer (`groundflare explorer` asks for it).
EXPLORER_TICKET_PATH = "/_groundflare/explorer/ticket"
# The URL origin of the v4 routes when they answer on the shim's socket.
SOCKET_ORIGIN = "http://shim"
# What the request log's tail Worker posts invocations as (contracts/traces.py).
TRACES_TAG = f"{TRACES_KIND}:{TRACES_ID}"


def _error(status: int, message: str) -> Response:
    """Routing errors share D1's failure shape, so any binding shows the message."""
    return json_response(status, orjson.dumps({"success": False, "error": message}))


class Refusal(Exception):
    """The shim will not start over this: `reason` names the file and what to do."""

    def __init__(self, failure: FailureClass, reason: str) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason


async def _open(resource: Resource, what: str, path: Path) -> None:
    """Open a resource; a damaged SQLite file, or no room to open one, is a Refusal naming
    the file and what to do.

    Nothing is replaced or repaired: starting empty over a file that may still be
    recovered would be silent loss.
    """
    try:
        await resource.open()
    except Exception as exc:
        refusal = _refusal(what, path, exc)
        if refusal is None:
            raise
        raise Refusal(FailureClass.DATA_DIR, refusal) from exc


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


async def _timed(work: Awaitable[None]) -> Response:
    started = time.perf_counter()
    await work
    elapsed = (time.perf_counter() - started) * 1000
    return json_response(200, orjson.dumps({"ms": round(elapsed, 3)}))


class ClockChange(BaseModel):
    advance: float


class Shim:
    """Every resource the stack binds, opened before the socket serves."""

    def __init__(self, config: ShimConfig, token: str, door: Door | None = None) -> None:
        self._config = config
        self._token = token.encode("utf-8")
        self.clock = Clock()
        self.calls = Recorder()
        # The config's resources and those the v4 API created (shim/live.py); the REST
        # routes reach the same store objects.
        self.resources = LiveResources(
            config.data_dir, kinds(config.plugins), self.clock, config.resources
        )
        self._handlers: dict[str, Handler] = self.resources.handlers
        self._door = door
        snapshotted = [
            Snapshotted(live.entry.spec, live.served, live.kind.folder)
            for live in self.resources.all()
        ]
        self.snapshots = Snapshots(DataDir(root=config.data_dir), snapshotted, door, self.clock)
        # The explorer's one-time login tickets (shim/explorer/auth.py).
        self.tickets = Tickets()
        # The request log (docs/explorer.md): every invocation's binding calls as spans.
        self.traces = None if config.traces is None else Traces(config.traces, config.data_dir)

    @cached_property
    def routes(self) -> list[Route]:
        """The v4 API's routes, served by the REST listener and, untagged, on this socket:
        Python's channel reaches them here (groundflare.bindings), since the listener's
        bearer token lives in the credential store of whoever started the stack."""
        from groundflare.shim.durable_objects.rest import routes as durable_object_routes

        return [*self.resources.routes(), *durable_object_routes(self._door)]

    @cached_property
    def _v4(self) -> Router:
        return Router(route for route in self.routes if not route.signed)

    async def open(self) -> None:
        served = [live.served for live in self.resources.all()]
        await asyncio.gather(*(_open(s.resource, s.what, s.file) for s in served))
        if self.traces is not None:
            await self.traces.open()

    async def close(self) -> None:
        await asyncio.gather(*(live.served.resource.close() for live in self.resources.all()))
        if self.traces is not None:
            await self.traces.close()
        self.resources.close_catalogue()

    async def dispatch(self, request: Request) -> Response:
        tag = request.headers.get(RESOURCE_HEADER)
        if tag is None:
            return await self._untagged(request)
        presented = request.headers.get(TOKEN_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(presented, self._token):
            return _error(403, f"missing or invalid {TOKEN_HEADER}")
        if tag == TRACES_TAG and self.traces is not None:
            return await self.traces.receive(request)
        handler = self._handlers.get(tag)
        if handler is None:
            return _error(404, f"unknown resource {tag!r}")
        traces = self.traces
        if traces is None and self.calls.calls is None:
            return await handler(request)
        # Noted here rather than by a wrapper around the handler: this is every binding
        # call's path, and a wrapper costs a coroutine per call (docs/performance.md).
        started = time.time()
        response = None
        try:
            response = await handler(request)
            return response
        finally:
            if traces is not None:
                traces.calls.note(tag, started, request, response)
            if self.calls.calls is not None:
                self.calls.note(tag, started, request, response)

    async def _untagged(self, request: Request) -> Response:
        if request.path == HEALTH_PATH:
            return json_response(200, b'{"ok":true}')
        if request.path == EXPLORER_TICKET_PATH and request.method == "POST":
            return json_response(200, orjson.dumps({"ticket": self.tickets.mint()}))
        if request.path.startswith(CALLS_PATH) and request.method == "POST":
            return self._calls(request.path.removeprefix(CALLS_PATH))
        if request.path.startswith(V4_PREFIX + "/"):
            path = request.path[len(V4_PREFIX) :]
            return await run_route(self._v4, self.resources, request, path, SOCKET_ORIGIN)
        if request.path.startswith(SNAPSHOTS_PATH) and request.method == "POST":
            return await self._snapshot(request.path.removeprefix(SNAPSHOTS_PATH))
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

    async def _snapshot(self, rest: str) -> Response:
        """`POST .../snapshots/NAME` takes it, `POST .../snapshots/NAME/restore` restores it."""
        name, _, action = rest.partition("/")
        try:
            if action == "":
                return await _timed(self.snapshots.take(name))
            if action == "restore":
                return await _timed(self.snapshots.restore(name))
        except (SnapshotError, DoorError) as exc:
            return _error(409, str(exc))
        return _error(404, f"no snapshot action {action!r}")

    def _calls(self, action: str) -> Response:
        if action == "start":
            self.calls.start()
            return json_response(200, b"{}")
        if action == "stop":
            return json_response(200, orjson.dumps({"calls": self.calls.stop()}))
        return _error(404, f"no calls action {action!r}")
