"""Who may use the proxy: the per-boot surface token, or a session cookie bought with it.

A browser cannot set headers on a WebSocket, so it trades the token for a
single-use ticket URL, and loading that URL sets an HttpOnly session cookie.
A session ends after SESSION_IDLE_SECONDS unused and SESSION_MAX_SECONDS after
it began, however busy: a cookie lifted from a browser profile stops working.
Times are the wall clock (injectable for tests), so a machine's sleep counts.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = b"groundflare_surface"
TICKET_SECONDS = 60.0
SESSION_IDLE_SECONDS = 12 * 3600.0
SESSION_MAX_SECONDS = 7 * 24 * 3600.0


@dataclass(slots=True)
class Session:
    began: float
    used: float

    def live(self, now: float) -> bool:
        return now - self.used < SESSION_IDLE_SECONDS and now - self.began < SESSION_MAX_SECONDS


class Gate:
    """The surface token, live tickets and sessions of one proxy process."""

    def __init__(self, surface_token: str, clock: Callable[[], float] = time.time) -> None:
        self._surface = surface_token.encode()
        self._clock = clock
        self._tickets: dict[str, float] = {}
        self._sessions: dict[bytes, Session] = {}

    def admits(self, surface: bytes | None, cookie: bytes | None) -> bool:
        """The token (constant-time compare) or a live session cookie this process issued;
        a session's use restarts its idle time."""
        if surface and hmac.compare_digest(surface, self._surface):
            return True
        value = cookie_value(cookie, COOKIE) if cookie else None
        session = self._sessions.get(value or b"")
        if session is None:
            return False
        now = self._clock()
        if not session.live(now):
            self._sessions.pop(value or b"")
            return False
        session.used = now
        return True

    def issue_ticket(self) -> str:
        now = self._clock()
        self._tickets = {t: expiry for t, expiry in self._tickets.items() if expiry > now}
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = now + TICKET_SECONDS
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """A new session for a live ticket, which is spent; None for anything else."""
        now = self._clock()
        expiry = self._tickets.pop(ticket, None)
        if expiry is None or expiry < now:
            return None
        self._sessions = {key: s for key, s in self._sessions.items() if s.live(now)}
        session = secrets.token_urlsafe(32)
        self._sessions[session.encode()] = Session(began=now, used=now)
        return session


def cookie_value(header: bytes, name: bytes) -> bytes | None:
    """One cookie's value from a Cookie header."""
    for part in header.split(b";"):
        key, sep, value = part.strip().partition(b"=")
        if sep and key == name:
            return value
    return None
