"""The sandbox proxy's HTTP/1.1 relay on the wire: framing, keep-alive, pipelining, cuts.

The proxy runs on its own here (`python -m groundflare.proxy` on an inherited socket, as
serve starts it), and the tests speak raw HTTP where a client library would hide the
framing or the connection they are about.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from groundflare.contracts.proxy import SURFACE_HEADER
from groundflare.contracts.secrets_pipe import secrets_pipe
from tests.fixtures.upstream import pattern
from tests.stack import REPO

TOKEN = "surface-token-for-the-relay-tests-0123456789"
AUTH = f"{SURFACE_HEADER}: {TOKEN}\r\n".encode()
SANDBOX_TOKEN = "sandbox-token-for-the-relay-tests-9876543210"
APP = "https://app.example"
# A relay bug shows as a hang: fail instead.
REPLY_SECONDS = 30
TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass
class RunningProxy:
    process: subprocess.Popen[bytes]
    port: int
    control_line: bytes

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def running_proxy(
    upstream: str, *origins: str, limits: dict[str, float] | None = None
) -> Iterator[RunningProxy]:
    """The proxy on a loopback port; `limits` lowers groundflare.proxy.limits' values."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    control_read, control_write = os.pipe()
    argv = [sys.executable, "-m", "groundflare.proxy", "--listen-fd", str(listener.fileno())]
    argv += ["--upstream", upstream, "--control-fd", str(control_write)]
    secrets_fd = secrets_pipe({"surface_token": TOKEN, "sandbox_token": SANDBOX_TOKEN})
    argv += ["--secrets-fd", str(secrets_fd)]
    for origin in origins:
        argv += ["--cors-origin", origin]
    if limits:
        argv += ["--limits", json.dumps(limits)]
    process = subprocess.Popen(
        argv, cwd=REPO, pass_fds=(listener.fileno(), control_write, secrets_fd)
    )
    os.close(control_write)
    os.close(secrets_fd)
    port = listener.getsockname()[1]
    listener.close()
    try:
        assert select.select([control_read], [], [], 30)[0], "the proxy never said it listens"
        line = os.read(control_read, 4096)
        yield RunningProxy(process, port, line)
    finally:
        os.close(control_read)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


@pytest.fixture(scope="module")
def proxy(upstream: str) -> Iterator[RunningProxy]:
    with running_proxy(upstream, APP) as running:
        yield running


# ---- a raw HTTP/1.1 client ----


def get(path: str, method: str = "GET", auth: bool = True) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: proxy\r\n".encode() + (AUTH if auth else b"") + b"\r\n"
    )


def post_head(path: str, length: int, auth: bool = True) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: proxy\r\nContent-Length: {length}\r\n".encode()
    return head + (AUTH if auth else b"") + b"\r\n"


def post(path: str, body: bytes, auth: bool = True) -> bytes:
    return post_head(path, len(body), auth) + body


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


async def read_reply(reader: asyncio.StreamReader, head: bool = False) -> Reply:
    """One response, read by its framing exactly as a client must."""
    return await asyncio.wait_for(_read_reply(reader, head), REPLY_SECONDS)


async def _read_reply(reader: asyncio.StreamReader, head: bool) -> Reply:
    status = int((await reader.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if head or status in (204, 304):
        body = b""
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            assert await reader.readline() == b"\r\n"
        assert await reader.readline() == b"\r\n"
        body = b"".join(parts)
    else:
        body = await reader.read()
    return Reply(status, headers, body)


async def connect(proxy: RunningProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


def proxy_rss(proxy: RunningProxy) -> int:
    status = Path(f"/proc/{proxy.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


# ---- tests ----


def test_the_control_line_says_the_proxy_listens(proxy):
    assert json.loads(proxy.control_line) == {"event": "listen", "socket": "sandbox"}


async def test_requests_on_one_connection_reuse_one_upstream_connection(proxy):
    reader, writer = await connect(proxy)
    peers = set()
    for _ in range(5):
        writer.write(get("/conn"))
        reply = await read_reply(reader)
        assert reply.status == 200
        peers.add(reply.json()["peer"])
    writer.close()
    assert len(peers) == 1


async def test_pipelined_requests_after_a_streamed_response_come_back_in_order(proxy):
    reader, writer = await connect(proxy)
    writer.write(get("/sse") + get("/headers") + post("/echo", b"after the stream"))
    events = await read_reply(reader)
    assert events.headers["content-type"] == "text/event-stream"
    assert events.body == b"data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"
    headers = await read_reply(reader)
    assert headers.status == 200 and "host" in {k.lower() for k in headers.json()}
    echo = await read_reply(reader)
    assert echo.body == b"after the stream"
    writer.close()


async def test_a_chunked_upload_arrives_intact(proxy):
    reader, writer = await connect(proxy)
    head = b"POST /sha256 HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\n" + AUTH
    writer.write(head + b"\r\n")
    expected, size = hashlib.sha256(), 0
    for length in (1, 7, 65_536, 300_001, 3, 1 << 20):
        piece = pattern(length)
        expected.update(piece)
        size += length
        writer.write(b"%x\r\n%b\r\n" % (length, piece))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    reply = await read_reply(reader)
    assert reply.json() == {"size": size, "sha256": expected.hexdigest()}
    writer.close()


async def test_a_content_length_upload_streams_in_pieces(proxy):
    reader, writer = await connect(proxy)
    size = 24 << 20
    writer.write(post_head("/sha256", size))
    block = pattern(1 << 20)
    for _ in range(size // len(block)):
        writer.write(block)
        await writer.drain()
    reply = await read_reply(reader)
    assert reply.json() == {"size": size, "sha256": hashlib.sha256(block * 24).hexdigest()}
    writer.close()


@pytest.mark.parametrize("chunked", ["0", "1"])
async def test_an_upstream_dying_mid_body_cuts_the_client(proxy, chunked):
    headers = {SURFACE_HEADER: TOKEN}
    url = f"{proxy.url}/truncate?n=1000000&chunked={chunked}"
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(url, headers=headers) as response,
    ):
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(response.read(), 10)


async def test_a_body_ended_by_the_close_is_rechunked_and_the_connection_lives_on(proxy):
    reader, writer = await connect(proxy)
    writer.write(get("/eof?n=300000"))
    reply = await read_reply(reader)
    assert reply.headers["transfer-encoding"] == "chunked"
    assert reply.body == pattern(300_000)
    writer.write(get("/headers"))
    assert (await read_reply(reader)).status == 200
    writer.close()


async def test_a_response_to_head_has_no_body_and_the_connection_lives_on(proxy):
    reader, writer = await connect(proxy)
    writer.write(get("/bytes?n=1000", method="HEAD"))
    reply = await read_reply(reader, head=True)
    assert reply.status == 200 and reply.headers["content-length"] == "1000"
    writer.write(get("/headers"))
    assert (await read_reply(reader)).status == 200
    writer.close()


async def test_a_refused_upload_is_drained_and_the_connection_lives_on(proxy):
    reader, writer = await connect(proxy)
    writer.write(get("/stats"))
    before = (await read_reply(reader)).json()["requests"]
    writer.write(post("/sha256", pattern(100_000), auth=False))
    refused = await read_reply(reader)
    assert refused.status == 401 and "error" in refused.json()
    writer.write(get("/headers") + get("/stats"))
    assert (await read_reply(reader)).status == 200
    assert (await read_reply(reader)).json()["requests"] == before + 1
    writer.close()


async def test_expect_100_continue_is_relayed(proxy):
    async with (
        aiohttp.ClientSession(headers={SURFACE_HEADER: TOKEN}, timeout=TIMEOUT) as session,
        session.post(f"{proxy.url}/sha256", data=b"x" * 1000, expect100=True) as response,
    ):
        assert (await response.json())["size"] == 1000


async def test_a_malformed_request_gets_400_and_a_close(proxy):
    reader, writer = await connect(proxy)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    reply = await read_reply(reader)
    assert reply.status == 400
    assert reply.headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), REPLY_SECONDS) == b""
    writer.close()


async def test_a_slow_reader_keeps_the_proxy_from_buffering_the_body(proxy):
    size = 128 << 20
    async with (
        aiohttp.ClientSession(headers={SURFACE_HEADER: TOKEN}, timeout=TIMEOUT) as session,
        session.get(f"{proxy.url}/bytes?n={size}") as response,
    ):
        before = proxy_rss(proxy)
        await response.content.readexactly(1 << 20)
        await asyncio.sleep(1.0)  # the upstream writes on; the proxy must stop reading it
        grown_kib = proxy_rss(proxy) - before
        received = 1 << 20
        async for chunk in response.content.iter_chunked(1 << 20):
            received += len(chunk)
    assert received == size
    assert grown_kib < 32 * 1024, f"the proxy grew by {grown_kib} KiB while the client paused"


async def test_a_listed_origin_is_answered_on_local_routes_too(proxy):
    async with aiohttp.ClientSession(proxy.url, timeout=TIMEOUT) as session:
        preflight = {"Origin": APP, "Access-Control-Request-Method": "POST"}
        async with session.options("/_groundflare/ticket", headers=preflight) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Headers"] == SURFACE_HEADER
        async with session.get("/headers", headers={"Origin": APP}) as response:
            assert response.status == 401
            assert response.headers["Access-Control-Allow-Origin"] == APP
            assert response.headers["Access-Control-Allow-Credentials"] == "true"


async def test_an_unreachable_sandbox_is_a_502(upstream):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with running_proxy(f"127.0.0.1:{port}") as running:
        async with (
            aiohttp.ClientSession(headers={SURFACE_HEADER: TOKEN}, timeout=TIMEOUT) as session,
            session.get(f"{running.url}/headers") as response,
        ):
            assert response.status == 502
            assert (await response.json())["error"].startswith("sandbox unreachable")


def masked_text_frame(text: str) -> bytes:
    """A client-to-server WebSocket text frame (short payload)."""
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


async def test_bytes_right_behind_an_upgrade_request_reach_the_sandbox(proxy):
    reader, writer = await connect(proxy)
    upgrade = (
        b"GET /ws HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Protocol: echo\r\n" + AUTH + b"\r\n"
    )
    writer.write(upgrade + masked_text_frame("early"))  # sent before any 101 could arrive
    switched = await read_reply(reader, head=True)
    assert switched.status == 101
    assert switched.headers["upgrade"].lower() == "websocket"
    assert switched.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    frame = await asyncio.wait_for(reader.readexactly(2 + len("echo: early")), REPLY_SECONDS)
    assert frame == bytes([0x81, len("echo: early")]) + b"echo: early"
    writer.close()


async def test_a_client_leaving_mid_download_leaves_the_proxy_serving(proxy):
    reader, writer = await connect(proxy)
    writer.write(get(f"/bytes?n={64 << 20}"))
    await asyncio.wait_for(reader.readexactly(1 << 20), REPLY_SECONDS)
    writer.transport.abort()
    await asyncio.sleep(0.2)
    reader, writer = await connect(proxy)
    writer.write(get("/headers"))
    assert (await read_reply(reader)).status == 200
    writer.close()
