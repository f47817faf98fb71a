"""Who may use the proxy: the per-boot surface token, or a session cookie bought with it.

A browser cannot set headers on a WebSocket, so it trades the token for a
single-use ticket URL, and loading that URL sets an HttpOnly session cookie.
"""

from __future__ import annotations

import hmac
import secrets
import time

COOKIE = b"groundflare_surface"
TICKET_SECONDS = 60.0


class Gate:
    """The surface token, live tickets and sessions of one proxy process."""

    def __init__(self, surface_token: str) -> None:
        self._surface = surface_token.encode()
        self._tickets: dict[str, float] = {}
        self._sessions: set[bytes] = set()

    def admits(self, surface: bytes | None, cookie: bytes | None) -> bool:
        """The token (constant-time compare) or a session cookie this process issued."""
        if surface and hmac.compare_digest(surface, self._surface):
            return True
        session = cookie_value(cookie, COOKIE) if cookie else None
        return session is not None and session in self._sessions

    def issue_ticket(self) -> str:
        now = time.monotonic()
        self._tickets = {t: expiry for t, expiry in self._tickets.items() if expiry > now}
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = now + TICKET_SECONDS
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """A new session for a live ticket, which is spent; None for anything else."""
        expiry = self._tickets.pop(ticket, None)
        if expiry is None or expiry < time.monotonic():
            return None
        session = secrets.token_urlsafe(32)
        self._sessions.add(session.encode())
        return session


def cookie_value(header: bytes, name: bytes) -> bytes | None:
    """One cookie's value from a Cookie header."""
    for part in header.split(b";"):
        key, sep, value = part.strip().partition(b"=")
        if sep and key == name:
            return value
    return None
