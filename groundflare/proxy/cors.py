"""CORS stays closed unless the profile lists the origin (`--cors-origin`)."""

from __future__ import annotations

from groundflare.contracts.proxy import SURFACE_HEADER
from groundflare.proxy.headers import Header, Request, local_response

ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE = b"600"
# For a listed origin the proxy's answer replaces the sandbox's own.
REPLACED = frozenset({b"access-control-allow-origin", b"access-control-allow-credentials"})


class Cors:
    def __init__(self, origins: list[str]) -> None:
        self._origins = {origin.encode() for origin in origins}

    def headers(self, request: Request) -> list[Header]:
        """What a response to this request adds: nothing unless its Origin is listed."""
        origin = request.fields.get(b"origin")
        if origin is None or origin not in self._origins:
            return []
        return [
            (b"Access-Control-Allow-Origin", origin),
            (b"Access-Control-Allow-Credentials", b"true"),
            (b"Vary", b"Origin"),
        ]

    def is_preflight(self, request: Request) -> bool:
        return request.method == b"OPTIONS" and b"access-control-request-method" in request.fields

    def preflight(self, request: Request, close: bool) -> bytes:
        """Answered here, without credentials (browsers send none): 204 or 403."""
        allowed = self.headers(request)
        if not allowed:
            return local_response(403, b"CORS origin not allowed", close=close)
        requested = request.fields.get(b"access-control-request-headers", SURFACE_HEADER.encode())
        allowed += [
            (b"Access-Control-Allow-Methods", ALLOW_METHODS),
            (b"Access-Control-Allow-Headers", requested),
            (b"Access-Control-Max-Age", MAX_AGE),
        ]
        return local_response(204, extra=allowed, close=close)
