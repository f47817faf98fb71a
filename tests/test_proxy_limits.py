"""What a client can cost the sandbox proxy, on the wire: head size, stalls, idling,
pipelining, connections. Anyone on the machine reaches the listener before any token
check, so none of these may depend on authenticating.

Timeouts are lowered through the proxy's hidden `--limits` flag; tests wait for a close,
never time one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httptools
import pytest

from groundflare.contracts.proxy import SURFACE_HEADER
from groundflare.proxy.limits import HEAD_BYTES
from tests.test_proxy_relay import (
    APP,
    AUTH,
    REPLY_SECONDS,
    TIMEOUT,
    TOKEN,
    RunningProxy,
    connect,
    get,
    masked_text_frame,
    proxy_rss,
    read_reply,
    running_proxy,
)

SHORT = 0.3


@pytest.fixture(scope="module")
def proxy(upstream: str) -> Iterator[RunningProxy]:
    with running_proxy(upstream, APP) as running:
        yield running


@pytest.fixture(scope="module")
def impatient(upstream: str) -> Iterator[RunningProxy]:
    """A proxy whose header and idle timeouts are short enough to wait out."""
    with running_proxy(upstream, limits={"header_seconds": SHORT, "idle_seconds": SHORT}) as p:
        yield p


def proxy_cpu_seconds(proxy: RunningProxy) -> float:
    fields = Path(f"/proc/{proxy.process.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


async def upstream_requests(upstream: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"http://{upstream}/stats") as r:
        return (await r.json())["requests"]


async def read_to_close(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), REPLY_SECONDS)


class Statuses(list[int]):
    """The status of each response in a byte stream, parsed as a client would."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._parser = httptools.HttpResponseParser(self)
        self._parser.feed_data(data)

    def on_headers_complete(self) -> None:
        self.append(self._parser.get_status_code())


def statuses(data: bytes) -> list[int]:
    return list(Statuses(data))


# ---- head size ----


async def test_a_head_up_to_64_kib_is_relayed(proxy):
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 6000) for i in range(10))
    reader, writer = await connect(proxy)
    writer.write(get("/headers").replace(b"\r\n\r\n", b"\r\n" + padding + b"\r\n"))
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 200 and "X-Pad-9" in reply.json()


async def test_a_head_over_64_kib_gets_431_and_never_reaches_the_sandbox(proxy, upstream):
    before = await upstream_requests(upstream)
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 6000) for i in range(12))
    reader, writer = await connect(proxy)
    writer.write(get("/headers").replace(b"\r\n\r\n", b"\r\n" + padding + b"\r\n"))
    answer = await read_to_close(reader)
    writer.close()
    assert statuses(answer) == [431]
    assert b"Connection: close" in answer
    assert await upstream_requests(upstream) == before


async def test_an_endless_header_is_cut_off_early_and_costs_little(proxy):
    """96 MiB in one header line: answered 431 after a read or so past the limit, and the
    rest read and dropped, not gathered (httptools joins a header's pieces by copying)."""
    reader, writer = await connect(proxy)
    rss, cpu = proxy_rss(proxy), proxy_cpu_seconds(proxy)
    writer.write(b"GET /headers HTTP/1.1\r\nHost: proxy\r\n" + AUTH + b"X-Endless: ")
    block = b"a" * (1 << 20)
    for _ in range(96):
        writer.write(block)
        await writer.drain()
    writer.write_eof()
    answer = await read_to_close(reader)
    writer.close()
    assert statuses(answer) == [431]
    assert proxy_rss(proxy) - rss < 16 * 1024, "the proxy kept the header"
    assert proxy_cpu_seconds(proxy) - cpu < 2.0, "quadratic work on one long header"


async def test_oversized_chunked_trailers_break_the_request(proxy):
    reader, writer = await connect(proxy)
    head = b"POST /sha256 HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\n" + AUTH
    trailer = b"X-Trailer: " + b"t" * (HEAD_BYTES + 1) + b"\r\n"
    writer.write(head + b"\r\n5\r\nhello\r\n0\r\n" + trailer + b"\r\n")
    answer = await read_to_close(reader)
    writer.close()
    assert statuses(answer) == [400]


# ---- timeouts ----


async def test_a_head_left_half_sent_gets_408_and_a_close(impatient):
    reader, writer = await connect(impatient)
    writer.write(b"GET /headers HTTP/1.1\r\nHost: pro")
    answer = await read_to_close(reader)
    writer.close()
    assert statuses(answer) == [408]


@pytest.mark.parametrize("requests", [0, 1], ids=["before any request", "between requests"])
async def test_an_idle_connection_is_closed(impatient, requests):
    reader, writer = await connect(impatient)
    for _ in range(requests):
        writer.write(get("/headers"))
        assert (await read_reply(reader)).status == 200
    assert await read_to_close(reader) == b""
    writer.close()


async def test_a_response_slower_than_the_timeouts_is_not_cut(impatient):
    reader, writer = await connect(impatient)
    writer.write(get("/sse"))  # three events 0.3 s apart
    reply = await read_reply(reader)
    writer.close()
    assert reply.body == b"data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"


async def test_a_websocket_outlives_the_idle_timeout(impatient):
    headers = {SURFACE_HEADER: TOKEN}
    async with (
        aiohttp.ClientSession(headers=headers, timeout=TIMEOUT) as session,
        session.ws_connect(f"{impatient.url}/ws", protocols=("echo",), autoping=False) as ws,
    ):
        await ws.send_str("before")
        assert await ws.receive_str() == "echo: before"
        await asyncio.sleep(SHORT * 6)  # silent for several idle timeouts
        await ws.send_str("after")
        assert await ws.receive_str() == "echo: after"


async def test_a_raw_tunnel_outlives_the_idle_timeout(impatient):
    reader, writer = await connect(impatient)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + AUTH
    )
    writer.write(b"\r\n")
    assert (await read_reply(reader, head=True)).status == 101
    await asyncio.sleep(SHORT * 6)
    writer.write(masked_text_frame("late"))
    frame = await asyncio.wait_for(reader.readexactly(2 + len("echo: late")), REPLY_SECONDS)
    assert frame.endswith(b"echo: late")
    writer.close()


# ---- pipelining ----


async def test_a_pipelined_flood_is_answered_in_part_then_refused(proxy, upstream):
    before = await upstream_requests(upstream)
    rss = proxy_rss(proxy)
    reader, writer = await connect(proxy)
    writer.write(get("/headers") * 5000)
    answer = await read_to_close(reader)
    writer.close()
    codes = statuses(answer)
    assert codes[-1] == 503 and set(codes[:-1]) == {200}
    assert await upstream_requests(upstream) - before == len(codes) - 1 <= 64
    assert proxy_rss(proxy) - rss < 16 * 1024


async def test_a_client_that_never_reads_its_answers_is_no_longer_read(proxy):
    """CORS preflights are answered without a token, each echoing the headers it asks
    for: a client sending them without reading the answers must stall, not make the
    proxy hold every answer."""
    requested = b",".join(b"x-h%d" % index for index in range(6000))  # ~40 KiB
    preflight = (
        b"OPTIONS /headers HTTP/1.1\r\nHost: proxy\r\nOrigin: " + APP.encode() + b"\r\n"
        b"Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: "
        + requested
        + b"\r\n\r\n"
    )
    rss = proxy_rss(proxy)
    _, writer = await connect(proxy)
    sent = 0
    with contextlib.suppress(TimeoutError):
        while sent < 256 << 20:
            writer.write(preflight)
            await asyncio.wait_for(writer.drain(), 2)
            sent += len(preflight)
    writer.transport.abort()
    assert sent < 256 << 20, "the proxy read on while its answers piled up"
    assert proxy_rss(proxy) - rss < 32 * 1024


async def test_a_paced_pipeline_deeper_than_the_limit_is_paused_not_refused(proxy):
    reader, writer = await connect(proxy)
    writer.write(get("/sse"))  # about a second, while the rest queue behind it
    for index in range(40):
        writer.write(get(f"/headers?n={index}"))
        await writer.drain()
        await asyncio.sleep(0.005)
    assert (await read_reply(reader)).headers["content-type"] == "text/event-stream"
    for _ in range(40):
        assert (await read_reply(reader)).status == 200
    writer.close()


# ---- connections ----


async def test_connections_beyond_the_cap_get_503_and_the_others_carry_on(upstream):
    with running_proxy(upstream, limits={"connections": 4}) as capped:
        held = [await connect(capped) for _ in range(4)]
        for reader, writer in held:  # all four accepted before the fifth arrives
            writer.write(get("/headers"))
            assert (await read_reply(reader)).status == 200
        reader, writer = await connect(capped)
        answer = await read_to_close(reader)
        writer.close()
        assert statuses(answer) == [503]
        for reader, writer in held:
            writer.write(get("/headers"))
            assert (await read_reply(reader)).status == 200
        held.pop()[1].close()
        for _ in range(100):  # until the proxy has seen the close
            reader, writer = await connect(capped)
            writer.write(get("/headers"))
            reply = await read_reply(reader)
            writer.close()
            if reply.status == 200:
                break
            await asyncio.sleep(0.05)
        assert reply.status == 200
        assert json.loads(reply.body)
