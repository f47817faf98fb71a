"""The local REST listener (loopback TCP, bearer token): Cloudflare's v4 envelope.

For now it answers the ops surface: `GET /_groundflare/health` (no token
needed; per-component state from the supervisor's runtime.json). Every other
path requires `Authorization: Bearer <api_token>` (constant-time check).

Every request, health included, must name the listener itself in `Host`
(127.0.0.1:PORT or localhost:PORT): a page that rebinds its own DNS name to
127.0.0.1 reaches the port from a browser, but with its own name in `Host`.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

import orjson

from groundflare.shim.http import json_response
from groundflare.shim.messages import Request, Response
from groundflare.shim.server import Limits

HEALTH_PATH = "/_groundflare/health"

# Any local process or browser tab can connect: bound everything a client can hold
# (docs/reliability-shim.md). 256 connections leave the binding socket the rest of the fds.
API_LIMITS = Limits(
    max_head=64 * 1024,
    head_timeout=10.0,
    idle_timeout=60.0,
    stall_timeout=60.0,
    max_connections=256,
)


def envelope_error(status: int, code: int, message: str) -> Response:
    body = {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }
    return json_response(status, orjson.dumps(body))


def local_hosts(address: str, port: int) -> frozenset[str]:
    """The `Host` values that name a listener on `address`: its literal, and localhost."""
    literal = f"[{address}]" if ":" in address else address
    return frozenset({f"{literal}:{port}", f"localhost:{port}"})


class Api:
    def __init__(self, token: str, runtime_json: Path, hosts: frozenset[str]) -> None:
        self._token = f"Bearer {token}".encode()
        self._runtime_json = runtime_json
        self._hosts = hosts

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
        if request.headers.get("host", "").lower() not in self._hosts:
            # 421: this server does not answer for that authority (RFC 9110 15.5.20).
            allowed = " or ".join(sorted(self._hosts))
            return envelope_error(421, 7000, f"Misdirected request: Host must be {allowed}")
        if request.path == HEALTH_PATH and request.method == "GET":
            health = self.health()
            return json_response(200 if health["ok"] else 503, orjson.dumps(health))
        presented = request.headers.get("authorization", "").encode("utf-8")
        if not hmac.compare_digest(presented, self._token):
            return envelope_error(401, 10000, "Authentication error")
        return envelope_error(404, 7003, f"No route for {request.method} {request.path}")
