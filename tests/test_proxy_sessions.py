"""Browser sessions at the sandbox proxy end: idle for 12 hours, or 7 days after login.

The Gate is driven by an injected clock, so days pass without sleeping; the cookie's
Max-Age is checked on the wire, where the browser reads it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from groundflare.proxy.auth import (
    COOKIE,
    SESSION_IDLE_SECONDS,
    SESSION_MAX_SECONDS,
    TICKET_SECONDS,
    Gate,
)
from tests.test_proxy_relay import AUTH, RunningProxy, connect, read_reply, running_proxy

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(clock: Clock) -> Gate:
    return Gate("surface", clock=clock)


def login(gate: Gate) -> bytes:
    session = gate.redeem(gate.issue_ticket())
    assert session is not None
    return b"other=1; " + COOKIE + b"=" + session.encode()


def test_a_session_ends_after_twelve_hours_unused(gate, clock):
    cookie = login(gate)
    clock.now += SESSION_IDLE_SECONDS - 1
    assert gate.admits(None, cookie)
    clock.now += SESSION_IDLE_SECONDS
    assert not gate.admits(None, cookie)
    clock.now -= SESSION_IDLE_SECONDS  # an ended session stays ended
    assert not gate.admits(None, cookie)


def test_using_a_session_keeps_it_alive_until_seven_days_after_login(gate, clock):
    cookie = login(gate)
    while clock.now + HOUR < 1_000_000.0 + SESSION_MAX_SECONDS:
        clock.now += HOUR
        assert gate.admits(None, cookie)
    clock.now += HOUR
    assert not gate.admits(None, cookie)


def test_a_new_login_after_expiry_works_and_the_token_never_expires(gate, clock):
    old = login(gate)
    clock.now += SESSION_MAX_SECONDS
    new = login(gate)
    assert gate.admits(None, new) and not gate.admits(None, old)
    assert gate.admits(b"surface", None)


def test_a_ticket_lasts_a_minute_and_one_use(gate, clock):
    late = gate.issue_ticket()
    clock.now += TICKET_SECONDS + 1
    assert gate.redeem(late) is None
    ticket = gate.issue_ticket()
    assert gate.redeem(ticket) is not None
    assert gate.redeem(ticket) is None


@pytest.fixture(scope="module")
def proxy(upstream: str) -> Iterator[RunningProxy]:
    with running_proxy(upstream) as running:
        yield running


async def test_the_session_cookie_tells_the_browser_when_it_ends(proxy):
    reader, writer = await connect(proxy)
    writer.write(b"POST /_groundflare/ticket HTTP/1.1\r\nHost: proxy\r\n" + AUTH + b"\r\n")
    url = (await read_reply(reader)).json()["url"]
    writer.write(f"GET {url} HTTP/1.1\r\nHost: proxy\r\n\r\n".encode())
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 204
    cookie = reply.headers["set-cookie"]
    assert f"Max-Age={int(SESSION_MAX_SECONDS)}" in cookie.split("; ")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
