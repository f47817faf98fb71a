"""The sandbox proxy in front of a local upstream: auth, token swap, streaming, WebSocket, SSE."""

from __future__ import annotations

import hashlib
import json

import aiohttp
import pytest

from groundflare.proxy import SANDBOX_HEADER, SURFACE_HEADER
from tests.fixtures.upstream import pattern
from tests.stack import REPO

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
BIG = 96 * 1024 * 1024


@pytest.fixture(scope="module")
def stack(upstream, tmp_path_factory):
    from groundflare.testing import start_stack

    running = start_stack(
        [EXAMPLE],
        tmp_path_factory.mktemp("proxy") / "data",
        extra=["--sandbox-upstream", upstream],
    )
    yield running
    assert running.stop() == 0


@pytest.fixture
async def client(stack):
    headers = {SURFACE_HEADER: stack.ready["surface_token"]}
    async with aiohttp.ClientSession(stack.ready["sandbox"], headers=headers) as session:
        yield session


async def upstream_requests(upstream: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://{upstream}/stats") as r:
        return (await r.json())["requests"]


def test_the_ready_line_carries_the_proxy_and_its_token(stack):
    assert stack.ready["sandbox"].startswith("http://127.0.0.1:")
    assert len(stack.ready["surface_token"]) >= 43


@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_without_the_surface_token_nothing_is_forwarded(stack, upstream, token):
    before = await upstream_requests(upstream)
    headers = {} if token is None else {SURFACE_HEADER: token}
    async with aiohttp.ClientSession() as session:
        async with session.get(stack.ready["sandbox"] + "/headers", headers=headers) as response:
            assert response.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(stack.ready["sandbox"] + "/ws", headers=headers)
        assert refused.value.status == 401
    assert await upstream_requests(upstream) == before


async def test_upstream_sees_the_internal_token_never_the_surface_one(client, stack):
    async with client.get(
        "/headers", headers={"Connection": "X-Private", "X-Private": "1", "Keep-Alive": "timeout=5"}
    ) as response:
        seen = {k.lower(): v for k, v in (await response.json()).items()}
    assert len(seen[SANDBOX_HEADER.lower()]) >= 43
    assert seen[SANDBOX_HEADER.lower()] != stack.ready["surface_token"]
    assert SURFACE_HEADER.lower() not in seen
    assert stack.ready["surface_token"] not in json.dumps(seen)
    assert "x-private" not in seen and "keep-alive" not in seen


async def test_a_large_upload_streams_through(client):
    async def body():
        block = pattern(1024 * 1024)
        for _ in range(BIG // len(block)):
            yield block

    async with client.post("/sha256", data=body()) as response:
        result = await response.json()
    expected = hashlib.sha256()
    block = pattern(1024 * 1024)
    for _ in range(BIG // len(block)):
        expected.update(block)
    assert result == {"size": BIG, "sha256": expected.hexdigest()}


async def test_a_large_download_streams_through(client):
    digest = hashlib.sha256()
    size = 0
    async with client.get(f"/bytes?n={BIG}") as response:
        assert response.headers["Content-Length"] == str(BIG)
        async for chunk in response.content.iter_chunked(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    assert size == BIG
    assert digest.hexdigest() == hashlib.sha256(pattern(BIG)).hexdigest()


async def test_server_sent_events_arrive_as_they_are_sent(client):
    async with client.get("/sse") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        first = await response.content.readuntil(b"\n\n")
        assert first == b"data: event 0\n\n"
        assert not response.content.at_eof()
        rest = await response.content.read()
    assert rest == b"data: event 1\n\ndata: event 2\n\n"


async def test_websocket_round_trip_with_the_header(client):
    async with client.ws_connect("/ws", protocols=("echo",)) as ws:
        assert ws.protocol == "echo"
        await ws.send_str("hello")
        assert await ws.receive_str() == "echo: hello"
        await ws.send_bytes(b"\x00\x01\x02")
        assert await ws.receive_bytes() == b"\x02\x01\x00"


async def test_a_browser_gets_a_cookie_through_a_one_time_ticket(stack):
    base = stack.ready["sandbox"]
    # Like a browser, keep cookies for an IP-address host (aiohttp refuses them by default).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(
            base + "/_groundflare/ticket", headers={SURFACE_HEADER: stack.ready["surface_token"]}
        ) as response:
            login = (await response.json())["url"]
        async with session.get(base + login) as response:
            assert response.status == 204
        async with session.ws_connect(base + "/ws") as ws:
            await ws.send_str("via cookie")
            assert await ws.receive_str() == "echo: via cookie"
        async with session.get(base + login) as response:
            assert response.status == 401, "a ticket works once"


async def test_cors_is_closed_by_default(client):
    origin = {"Origin": "https://evil.example"}
    async with client.get("/headers", headers=origin) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
    preflight = {**origin, "Access-Control-Request-Method": "POST"}
    async with client.options("/headers", headers=preflight) as response:
        assert response.status == 403


async def test_an_origin_listed_in_the_profile_may_call_the_proxy(upstream, tmp_data, stacks):
    from groundflare.profile import Installation

    install = Installation(tmp_data)
    install.save(install.create().model_copy(update={"cors_origins": ["https://app.example"]}))
    stack = stacks([EXAMPLE], tmp_data, extra=["--sandbox-upstream", upstream])
    headers = {SURFACE_HEADER: stack.ready["surface_token"], "Origin": "https://app.example"}
    async with aiohttp.ClientSession(stack.ready["sandbox"]) as session:
        async with session.get("/headers", headers=headers) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        preflight = {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": SURFACE_HEADER,
        }
        async with session.options("/headers", headers=preflight) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Headers"] == SURFACE_HEADER
