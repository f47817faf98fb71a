"""The local REST listener (loopback TCP): the ops surface, Cloudflare's v4 API under
`/client/v4/` (bearer token), signed upload and download URLs the API hands out, and
R2's S3 API (SigV4).

Every request, health included, must name the listener itself in `Host`
(127.0.0.1:PORT or localhost:PORT): a page that rebinds its own DNS name to
127.0.0.1 reaches the port from a browser, but with its own name in `Host`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from groundflare.shim.api.envelope import ApiError, envelope_error
from groundflare.shim.api.routes import V4_PREFIX, Call, Resources, Route, Router
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.messages import BodyTooLarge, Request, Response
from groundflare.shim.server import Limits

log = logging.getLogger("shim")

HEALTH_PATH = "/_groundflare/health"
# URLs the API hands out (D1 import uploads, export downloads): no bearer token, a
# signature in the URL instead, as production's presigned R2 URLs.
SIGNED_PREFIX = "/_groundflare/signed"

# Any local process or browser tab can connect: bound everything a client can hold
# (docs/reliability-shim.md). 256 connections leave the binding socket the rest of the fds.
API_LIMITS = Limits(
    max_head=64 * 1024,
    head_timeout=10.0,
    idle_timeout=60.0,
    stall_timeout=60.0,
    max_connections=256,
)

# What answers the requests that are neither v4 nor ops (R2's S3 API), when present.
Fallback = Callable[[Request], Awaitable[Response]]
V4Call = Callable[[Request], Awaitable[Response]]


class Surface(Protocol):
    """A UI served beside the API on this listener: the explorer (shim/explorer/), whose
    browser session may also call the v4 routes."""

    def owns(self, path: str) -> bool: ...

    def admit(self, request: Request) -> Response | None:
        """None when a v4 request without a bearer token may go on as a session."""

    async def dispatch(self, request: Request, v4: V4Call) -> Response: ...


def local_hosts(address: str, port: int) -> frozenset[str]:
    """The `Host` values that name a listener on `address`: its literal, and localhost."""
    literal = f"[{address}]" if ":" in address else address
    return frozenset({f"{literal}:{port}", f"localhost:{port}"})


class Api:
    def __init__(
        self,
        token: str,
        runtime_json: Path,
        hosts: frozenset[str],
        resources: Resources | None = None,
        routes: Iterable[Route] = (),
        fallback: Fallback | None = None,
        explorer: Surface | None = None,
    ) -> None:
        self._token = f"Bearer {token}".encode()
        self._runtime_json = runtime_json
        self._hosts = hosts
        self._resources = resources
        routes = list(routes)
        self._v4 = Router(route for route in routes if not route.signed)
        self._signed = Router(route for route in routes if route.signed)
        self._fallback = fallback
        self._explorer = explorer

    def health(self) -> dict[str, Any]:
        try:
            runtime = orjson.loads(self._runtime_json.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {"ok": False, "components": {}}
        components = {
            name: {"state": info.get("state"), "pid": info.get("pid")}
            for name, info in runtime.get("components", {}).items()
        }
        ok = bool(components) and all(c["state"] == "running" for c in components.values())
        return {"ok": ok, "components": components}

    async def dispatch(self, request: Request) -> Response:
        host = request.headers.get("host", "").lower()
        if host not in self._hosts:
            # 421: this server does not answer for that authority (RFC 9110 15.5.20).
            allowed = " or ".join(sorted(self._hosts))
            return envelope_error(421, 7000, f"Misdirected request: Host must be {allowed}")
        path = request.path
        if path == HEALTH_PATH and request.method == "GET":
            health = self.health()
            return json_response(200 if health["ok"] else 503, orjson.dumps(health))
        if self._explorer is not None and self._explorer.owns(path):
            return await self._explorer.dispatch(request, self.v4)
        if path.startswith(V4_PREFIX + "/") or path == V4_PREFIX:
            presented = request.headers.get("authorization", "")
            if not presented:
                if self._explorer is None or "cookie" not in request.headers:
                    return envelope_error(401, 10000, "Authentication error")
                refusal = self._explorer.admit(request)
                if refusal is not None:
                    return refusal
            elif not hmac.compare_digest(presented.encode("utf-8", "replace"), self._token):
                return envelope_error(403, 10000, "Authentication error")
            return await self.v4(request)
        if path.startswith(SIGNED_PREFIX + "/"):
            return await self._route(self._signed, request, path[len(SIGNED_PREFIX) :], host)
        presented = request.headers.get("authorization", "")
        if self._fallback is not None and not presented.startswith("Bearer "):
            # S3's requests: SigV4-signed (header or query) or anonymous (then S3's own
            # AccessDenied). A bearer token means a v4 client that took a wrong path.
            return await self._fallback(request)
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), self._token):
            return envelope_error(401 if not presented else 403, 10000, "Authentication error")
        return envelope_error(404, 7003, f"No route for {request.method} {path}")

    async def v4(self, request: Request) -> Response:
        """A v4 request already admitted; the explorer's pages call here in process."""
        host = request.headers.get("host", "").lower()
        return await self._route(self._v4, request, request.path[len(V4_PREFIX) :], host)

    async def _route(self, router: Router, request: Request, path: str, host: str) -> Response:
        return await run_route(router, self._resources, request, path, f"http://{host}")


async def run_route(
    router: Router, resources: Resources | None, request: Request, path: str, origin: str
) -> Response:
    """The route of `path` (after its prefix) answering `request`, every failure as a v4
    error: the REST listener and the shim's own socket (Python's channel) both call it."""
    try:
        route, params = router.match(request.method, path)
        if resources is None:
            raise ApiError(503, 10000, "no resources are served by this listener")
        return await route.handler(Call(request, params, resources, origin=origin))
    except ApiError as exc:
        return exc.response()
    except ValidationError as exc:
        return envelope_error(400, 10001, f"Invalid request: {validation_summary(exc)}")
    except BodyTooLarge as exc:
        return envelope_error(413, 10001, str(exc))
    except Exception:
        log.exception("v4 API: %s %s failed", request.method, request.path)
        return envelope_error(500, 10001, "internal error in the shim; see its log")
