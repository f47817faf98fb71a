"""Who may use the explorer: one-time login links, a session cookie, CSRF tokens.

`groundflare explorer` asks the shim, over its private unix socket, for a ticket and
prints `<api>/explorer/login?ticket=...`; opening it once sets an HttpOnly, SameSite=Strict
session cookie and the ticket is spent. Sessions are signed, not stored: a key derived
from the install's API token signs an expiry and a nonce, so a shim restart keeps them and
a new API token ends them. The page never holds the API token or the session: it holds a
CSRF token (derived from the session) that every write must send back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from groundflare.shim.messages import Request

TICKET_SECONDS = 120.0
MAX_TICKETS = 64
SESSION_SECONDS = 7 * 24 * 3600
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Tickets:
    """One-time login tickets, minted for the CLI, spent by the browser."""

    def __init__(self) -> None:
        self._open: dict[str, float] = {}

    def mint(self) -> str:
        now = time.monotonic()
        self._open = {t: expiry for t, expiry in self._open.items() if expiry > now}
        if len(self._open) >= MAX_TICKETS:
            self._open.pop(next(iter(self._open)))
        ticket = secrets.token_urlsafe(32)
        self._open[ticket] = now + TICKET_SECONDS
        return ticket

    def spend(self, ticket: str) -> bool:
        expiry = self._open.pop(ticket, None)
        return expiry is not None and expiry > time.monotonic()


@dataclass(frozen=True)
class Session:
    nonce: str
    expires: int
    csrf: str


class Sessions:
    def __init__(self, api_token: str, port: int) -> None:
        self._key = hmac.new(
            api_token.encode(), b"groundflare explorer sessions", hashlib.sha256
        ).digest()
        # Cookies are per host, not per port: each listener's cookie has its own name.
        self.cookie = f"groundflare_explorer_{port}"

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def new(self) -> tuple[Session, str]:
        """A fresh session and its Set-Cookie value."""
        expires = int(time.time()) + SESSION_SECONDS
        nonce = secrets.token_urlsafe(16)
        value = f"{expires}.{nonce}.{self._mac(f'{expires}.{nonce}')}"
        cookie = (
            f"{self.cookie}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"
        )
        return self._session(nonce, expires), cookie

    def cleared(self) -> str:
        return f"{self.cookie}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"

    def _session(self, nonce: str, expires: int) -> Session:
        return Session(nonce, expires, self._mac(f"csrf.{nonce}"))

    def of(self, request: Request) -> Session | None:
        """The request's valid session, if its cookie holds one."""
        value = _cookie(request.headers.get("cookie", ""), self.cookie)
        if value is None:
            return None
        expires_text, _, rest = value.partition(".")
        nonce, _, mac = rest.rpartition(".")
        if not expires_text.isdigit() or not nonce:
            return None
        if not hmac.compare_digest(mac, self._mac(f"{expires_text}.{nonce}")):
            return None
        expires = int(expires_text)
        if expires < time.time():
            return None
        return self._session(nonce, expires)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def same_origin(request: Request, origin: str) -> bool:
    """A browser's own word on where a request comes from, when it gives one."""
    sent = request.headers.get("origin")
    if sent is not None and sent != origin:
        return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented, session.csrf)
