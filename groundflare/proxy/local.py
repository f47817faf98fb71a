"""Answers the proxy gives itself: CORS preflights, tickets and logins, refusals."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from groundflare.contracts.proxy import SURFACE_HEADER
from groundflare.proxy.auth import COOKIE, SESSION_MAX_SECONDS, Gate
from groundflare.proxy.cors import Cors
from groundflare.proxy.headers import Header, Request, local_response

TICKET_PATH = b"/_groundflare/ticket"
LOGIN_PATH = b"/_groundflare/login"
SURFACE_FIELD = SURFACE_HEADER.lower().encode()


def json_response(status: int, body: object, extra: list[Header], close: bool) -> bytes:
    data = json.dumps(body).encode()
    return local_response(status, data, b"application/json; charset=utf-8", extra, close)


class Door:
    """Decides, from the head alone, whether a request reaches the sandbox."""

    def __init__(self, gate: Gate, cors: Cors) -> None:
        self.gate = gate
        self.cors = cors

    def answer(self, request: Request, cors: list[Header], close: bool) -> bytes | None:
        """The whole response when the proxy answers itself; None to forward the request.
        `cors`: what Cors.headers gave for this request."""
        if request.error is not None:
            status, message = request.error
            return local_response(status, message.encode(), close=True)
        if self.cors.is_preflight(request):
            return self.cors.preflight(request, close)
        admitted = self.gate.admits(
            request.fields.get(SURFACE_FIELD), request.fields.get(b"cookie")
        )
        path = request.path
        if path == TICKET_PATH:
            if request.method != b"POST" or not admitted:
                return self.unauthorized(cors, close)
            url = f"{LOGIN_PATH.decode()}?ticket={self.gate.issue_ticket()}"
            return json_response(200, {"url": url}, cors, close)
        if path == LOGIN_PATH:
            return self._login(request, cors, close)
        if not admitted:
            return self.unauthorized(cors, close)
        return None

    def _login(self, request: Request, cors: list[Header], close: bool) -> bytes:
        """Spend a ticket: 204 and the session cookie, which the browser keeps no longer
        than the proxy honours it."""
        query = parse_qs(request.query.decode("latin-1"))
        session = self.gate.redeem(query.get("ticket", [""])[0])
        if session is None:
            return self.unauthorized(cors, close)
        cookie = b"%s=%s; HttpOnly; Path=/; SameSite=Strict; Max-Age=%d" % (
            COOKIE,
            session.encode(),
            SESSION_MAX_SECONDS,
        )
        return local_response(204, extra=[*cors, (b"Set-Cookie", cookie)], close=close)

    @staticmethod
    def unauthorized(cors: list[Header], close: bool) -> bytes:
        error = f"missing or invalid {SURFACE_HEADER} (or session cookie)"
        return json_response(401, {"error": error}, cors, close)

    @staticmethod
    def unreachable(reason: str, cors: list[Header], close: bool) -> bytes:
        return json_response(502, {"error": f"sandbox unreachable: {reason}"}, cors, close)
