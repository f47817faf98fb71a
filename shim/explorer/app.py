"""The explorer on the REST listener (`/explorer`): its routes, who may use them, its static
files (docs/explorer.md).

Every page but the login link and the static files needs a session; every write (any
method but GET/HEAD) also needs the session's CSRF token and a same-origin browser. The
same session may call the v4 API under `/client/v4/` (`admit`), so a page's scripts use
the one API there is.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Iterable
from urllib.parse import unquote

from groundflare.shim.api.envelope import envelope_error
from groundflare.shim.explorer import pages
from groundflare.shim.explorer.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    Sessions,
    Tickets,
    csrf_ok,
    same_origin,
)
from groundflare.shim.explorer.v4 import V4, V4Client, V4Error
from groundflare.shim.explorer.web import (
    HERE,
    PREFIX,
    SECURITY_HEADERS,
    Handler,
    Page,
    Refused,
    Stack,
    html,
    page_text,
)
from groundflare.shim.messages import Request, Response

log = logging.getLogger("shim")

STATIC = HERE / "static"
LOGIN = f"{PREFIX}/login"
LOGOUT = f"{PREFIX}/logout"
STATIC_PREFIX = f"{PREFIX}/static/"
_STATIC_NAME = re.compile(r"[a-z0-9-]+\.(css|js|txt|svg)")

Route = tuple[str, re.Pattern[str], Handler]


def compile_routes(table: Iterable[tuple[str, str, Handler]]) -> list[Route]:
    """`{name}` in a path is one segment (percent-encoded), as the v4 routes write it."""
    found = []
    for method, path, handler in table:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        found.append((method, re.compile(f"{PREFIX}{regex}/?"), handler))
    return found


class Explorer:
    def __init__(self, sessions: Sessions, tickets: Tickets, stack: Stack) -> None:
        self.sessions = sessions
        self.tickets = tickets
        self.stack = stack
        self._routes = compile_routes(pages.ROUTES)

    @staticmethod
    def owns(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    def admit(self, request: Request) -> Response | None:
        """Whether a v4 request without a bearer token may go on as this browser's session:
        None when it may, else the refusal (a missing session is the caller's 401)."""
        session = self.sessions.of(request)
        if session is None:
            return v4_refusal(401, 10000, "Authentication error")
        if request.method not in SAFE_METHODS and not (
            same_origin(request, _origin(request))
            and csrf_ok(session, request.headers.get(CSRF_HEADER))
        ):
            return v4_refusal(403, 10000, "CSRF token missing or invalid")
        return None

    async def dispatch(self, request: Request, v4: V4) -> Response:
        path = request.path
        if path.startswith(STATIC_PREFIX):
            return self._static(path[len(STATIC_PREFIX) :])
        if path == LOGIN and request.method == "GET":
            return self._login(request)
        session = self.sessions.of(request)
        if session is None:
            return html(401, page_text("signed_out.html"))
        origin = _origin(request)
        page = Page(request, session, V4Client(v4, origin[len("http://") :]), origin, self.stack)
        if request.method not in SAFE_METHODS:
            if not same_origin(request, origin):
                return html(403, page_text("refused.html", message="cross-site request refused"))
            presented = request.headers.get(CSRF_HEADER)
            if presented is None and _is_form(request):
                presented = (await page.form()).get(CSRF_FIELD)
            if not csrf_ok(session, presented):
                return html(403, page_text("refused.html", message="CSRF token missing or invalid"))
        if path == LOGOUT and request.method == "POST":
            return Response(
                status=303,
                headers={
                    "Location": f"{PREFIX}/signed-out",
                    "Set-Cookie": self.sessions.cleared(),
                    **SECURITY_HEADERS,
                },
            )
        return await self._route(page)

    async def _route(self, page: Page) -> Response:
        request = page.request
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                allowed = True
                continue
            page.params = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                return await handler(page)
            except Refused as exc:
                return page.render("refused.html", status=exc.status, message=exc.message)
            except V4Error as exc:
                return page.render("refused.html", status=exc.status, message=exc.message)
        if allowed:
            return page.render("refused.html", status=405, message="method not allowed")
        return page.render("refused.html", status=404, message="no such page")

    def _login(self, request: Request) -> Response:
        if not self.tickets.spend(request.query.get("ticket", "")):
            return html(401, page_text("signed_out.html", expired=True))
        _, cookie = self.sessions.new()
        # The ticket leaves the address bar at once; it is spent anyway.
        return Response(
            status=303,
            headers={"Location": f"{PREFIX}/", "Set-Cookie": cookie, **SECURITY_HEADERS},
        )

    def _static(self, name: str) -> Response:
        if not _STATIC_NAME.fullmatch(name) or not (STATIC / name).is_file():
            return Response(status=404, body=b"not found", headers=dict(SECURITY_HEADERS))
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {**SECURITY_HEADERS, "Content-Type": kind, "Cache-Control": "no-cache"}
        return Response(body=(STATIC / name).read_bytes(), headers=headers)


def _origin(request: Request) -> str:
    """This listener as the browser named it (the listener accepts only its own names)."""
    return f"http://{request.headers.get('host', '').lower()}"


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def v4_refusal(status: int, code: int, message: str) -> Response:
    return envelope_error(status, code, message)
