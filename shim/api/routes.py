"""Routes of the v4 API: each binding kind contributes its own (`Kind.routes()`), the
router matches a request's path to one, and the route reaches the live stores through
`Resources`, the shim's view of every resource it serves.

Paths are written after `/client/v4` with `{name}` for one raw (still percent-encoded)
segment and `{name:path}` for the rest of the path.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

from groundflare.shim.api.envelope import ApiError
from groundflare.shim.catalogue import Entry
from groundflare.shim.messages import Request, Response

if TYPE_CHECKING:
    from groundflare.shim.kinds import Served

V4_PREFIX = "/client/v4"
ACCOUNT = "/accounts/{account}"


class Resources(Protocol):
    """The live resources a route works on: the same store objects the bindings use."""

    data_dir: Path

    def entries(self, kind: str) -> list[Entry]:
        """Every resource of `kind`, in the order they were first recorded."""

    def served(self, kind: str, resource_id: str) -> Served | None:
        """The opened store of one resource, or None."""

    def bound(self, kind: str, resource_id: str) -> bool:
        """Whether a Worker of the running stack binds it (wrangler.toml names it)."""

    async def create(self, kind: str, resource_id: str, name: str) -> Entry:
        """Record, create and open a resource; it is served from then on."""

    async def rename(self, kind: str, resource_id: str, name: str) -> Entry:
        """Change the name a resource is listed under (its files keep theirs)."""

    async def drop(self, kind: str, resource_id: str) -> None:
        """Close a resource, forget it and delete its files."""

    def sign(self, purpose: str) -> str:
        """An unguessable token for `purpose` (signed upload and download URLs)."""

    def check_signature(self, purpose: str, token: str) -> bool: ...


@dataclass
class Call:
    """One request to one route: its path parameters, already matched."""

    request: Request
    params: dict[str, str]
    resources: Resources
    # The listener's own origin (http://127.0.0.1:PORT), for URLs the API hands out.
    origin: str = ""

    def param(self, name: str) -> str:
        """A path parameter, percent-decoded."""
        return unquote(self.params[name])


RouteHandler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: RouteHandler
    # Served under /_groundflare/signed without the bearer token: the handler checks the
    # signature its URL carries (upload and download URLs the API hands out).
    signed: bool = False
    pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        regex = re.sub(
            r"\{(\w+)(:path)?\}",
            lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
            self.path,
        )
        object.__setattr__(self, "pattern", re.compile(f"{regex}/?"))


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: Sequence[Route] = list(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for `method path` (path after /client/v4); ApiError 404 or 405."""
        allowed = False
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict()
            allowed = True
        if allowed:
            raise ApiError(405, 10000, f"Method {method} not allowed for {V4_PREFIX}{path}")
        raise ApiError(
            404,
            7003,
            f"Could not route to {V4_PREFIX}{path}, perhaps your object identifier is invalid?",
        )
