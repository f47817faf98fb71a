"""The sandbox proxy on the wire against request smuggling and response desync.

The sandbox here is a raw-socket stand-in that keeps every byte it is sent, parses it
strictly, and answers /reflect with the request's head, token included, as a debugging
echo would. So a smuggled request shows in its bytes, and a victim's head answered to
the wrong client shows as the sandbox token in that client's bytes. The attacker holds
the surface token (the proxy forwards nothing otherwise); what it must never get is the
sandbox token or another client's request.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httptools
import pytest

from groundflare.contracts.proxy import SANDBOX_HEADER
from tests.test_proxy_relay import (
    AUTH,
    REPLY_SECONDS,
    SANDBOX_TOKEN,
    RunningProxy,
    connect,
    get,
    read_reply,
    running_proxy,
)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
# Sent right behind every attack: it reaches the sandbox only if the proxy read the attack
# as one well-framed request.
FOLLOW_UP = b"GET /follow HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n" + AUTH + b"\r\n"
VICTIM = b"victim-marker-0451"
TOKEN_FIELD = SANDBOX_HEADER.lower()


# ---- a sandbox that records everything ----


@dataclass
class Seen:
    """One request head the sandbox parsed, and which of its connections carried it."""

    connection: int
    method: str
    path: str
    headers: dict[str, str]


def response(body: bytes, *headers: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(h + b"\r\n" for h in headers)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


# Answers that leave doubt about where they end, by path; the proxy must not reuse the
# connection after any of them.
MISFRAMED: dict[str, bytes] = {
    "/twice": response(b"first") + response(b"second"),
    "/overrun": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\n",
    "/gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "/nominate": response(b"hello", b"Connection: content-length"),
}


class SandboxConnection:
    """httptools callbacks for one connection to the recording sandbox."""

    def __init__(self, sandbox: RecordingSandbox, sock: socket.socket, index: int) -> None:
        self.sandbox = sandbox
        self.sock = sock
        self.index = index
        self.url = b""
        self.head: list[tuple[bytes, bytes]] = []
        self.parser = httptools.HttpRequestParser(self)

    def on_message_begin(self) -> None:
        self.url = b""
        self.head = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head.append((name, value))

    def on_headers_complete(self) -> None:
        headers = {name.decode().lower(): value.decode() for name, value in self.head}
        method = self.parser.get_method().decode()
        self.sandbox.record(Seen(self.index, method, self.url.decode(), headers))
        if self.url == b"/early":  # answers before reading the body
            self.sock.sendall(response(b"early"))

    def on_message_complete(self) -> None:
        path = self.url.decode()
        if path == "/early":
            return
        if self.parser.get_method() == b"HEAD":
            self.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        elif path == "/reflect":
            lines = [b"%s: %s" % pair for pair in self.head]
            head = b"\r\n".join([b"GET " + self.url, *lines])
            self.sock.sendall(response(head, b"X-Connection: %d" % self.index))
        else:
            self.sock.sendall(MISFRAMED.get(path) or response(b"ok:" + self.url))


@dataclass
class RecordingSandbox:
    listener: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    received: bytearray = field(default_factory=bytearray)
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def since(self, mark: int) -> list[Seen]:
        with self.lock:
            return self.seen[mark:]

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                index = self.connections
            threading.Thread(target=self._serve, args=(sock, index), daemon=True).start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        connection = SandboxConnection(self, sock, index)
        with sock:
            while data := sock.recv(1 << 16):
                with self.lock:
                    self.received += data
                try:
                    connection.parser.feed_data(data)
                except httptools.HttpParserError:
                    return


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RecordingSandbox]:
    recording = RecordingSandbox()
    recording.start()
    yield recording
    recording.listener.close()


@pytest.fixture(scope="module")
def proxy(sandbox: RecordingSandbox) -> Iterator[RunningProxy]:
    with running_proxy(sandbox.address) as running:
        yield running


# ---- helpers ----


async def exchange(proxy: RunningProxy, data: bytes) -> bytes:
    """Everything the proxy answers to `data` on a new connection, up to its close."""
    reader, writer = await connect(proxy)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), REPLY_SECONDS)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def victim_request(proxy: RunningProxy) -> bytes:
    """A request whose head the sandbox reflects, marked so its owner can be told."""
    reader, writer = await connect(proxy)
    request = get("/reflect").replace(b"\r\n\r\n", b"\r\nX-Victim: %b\r\n\r\n" % VICTIM)
    writer.write(request)
    reply = await read_reply(reader)
    writer.close()
    assert reply.status == 200
    return reply.body


def attack(headers: str, body: bytes, version: str = "1.1") -> bytes:
    head = f"POST /attack HTTP/{version}\r\nHost: proxy\r\n{headers}".encode() + AUTH
    return head + b"\r\n" + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST = b"0\r\n\r\n"
N = len(SMUGGLED)

TE = "Transfer-Encoding: "
CL = f"Content-Length: {N}\r\n"
CHUNKED = f"{TE}chunked\r\n"
RELAYED = ["/attack", "/follow"]


def case(name: str, payload: bytes, status: int, forwarded: list[str] | None = None):
    """What the attacker sends, the status it first gets, and what reaches the sandbox."""
    return pytest.param(payload, status, forwarded or [], id=name)


ATTACKS = [
    case("CL.TE", attack(f"Content-Length: {N + 5}\r\n{CHUNKED}", LAST + SMUGGLED), 400),
    case("TE.CL", attack(f"{CHUNKED}Content-Length: 4\r\n", chunk(SMUGGLED) + LAST), 400),
    case("TE.TE xchunked", attack(f"Content-Length: 4\r\n{TE}xchunked\r\n", chunk(SMUGGLED)), 400),
    case("TE xchunked alone", attack(f"{TE}xchunked\r\n", LAST + SMUGGLED), 501),
    case("TE space before colon", attack("Transfer-Encoding : chunked\r\n", LAST + SMUGGLED), 400),
    case("TE folded onto a line", attack(f"{CL} {CHUNKED}", SMUGGLED), 400),
    case("TE OWS beside CL", attack(f"Content-Length: {N + 5}\r\n{TE} chunked\r\n", LAST), 400),
    case("TE duplicated", attack(CHUNKED * 2, LAST + SMUGGLED), 400),
    case("TE chunked then identity", attack(f"{CHUNKED}{TE}identity\r\n", LAST + SMUGGLED), 400),
    case("TE chunked, identity", attack(f"{TE}chunked, identity\r\n", LAST + SMUGGLED), 400),
    case("TE identity, chunked", attack(f"{TE}identity, chunked\r\n", LAST + SMUGGLED), 501),
    case("TE gzip, chunked", attack(f"{TE}gzip, chunked\r\n", LAST + SMUGGLED), 501),
    case("TE in HTTP/1.0", attack(CHUNKED, LAST + SMUGGLED, "1.0"), 400),
    case("CL conflicting", attack(f"Content-Length: 0\r\n{CL}", SMUGGLED), 400),
    case("CL repeated", attack(CL * 2, SMUGGLED), 400),
    case("CL as a list", attack(f"Content-Length: {N}, {N}\r\n", SMUGGLED), 400),
    case(
        "Connection: content-length", attack(f"Connection: content-length\r\n{CL}", SMUGGLED), 400
    ),
    case(
        "Connection: transfer-encoding",
        attack(f"Connection: keep-alive, Transfer-Encoding\r\n{CHUNKED}", LAST + SMUGGLED),
        400,
    ),
    case("Connection: host", attack(f"Connection: Host\r\n{CL}", SMUGGLED), 400),
    case("Connection: surface token", attack("Connection: X-Groundflare-Surface\r\n", b""), 400),
    case("Connection: sandbox token", attack("Connection: x-groundflare-sandbox\r\n", b""), 400),
    case("obs-fold", attack(f"X-Pad: 1\r\n {CL}", SMUGGLED), 400),
    case("bare LF", attack(CL, SMUGGLED).replace(b"\r\n", b"\n"), 400),
    case(
        "Upgrade with a body",
        attack(f"Connection: Upgrade\r\nUpgrade: websocket\r\n{CL}", SMUGGLED),
        400,
    ),
    case("malformed chunk size", attack(CHUNKED, b"zz\r\n" + SMUGGLED), 400, ["/attack"]),
    case("bare LF in chunks", attack(CHUNKED, b"5\nhello\n0\n\n" + SMUGGLED), 400, ["/attack"]),
    # Well-formed after all: relayed as one request, and what follows is the client's next.
    case("TE upper case", attack(f"{TE}CHUNKED\r\n", LAST + SMUGGLED + FOLLOW_UP), 200, RELAYED),
    case(
        "TE tab before value",
        attack(f"{TE}\tchunked\r\n", LAST + SMUGGLED + FOLLOW_UP),
        200,
        RELAYED,
    ),
]


# ---- tests ----


@pytest.mark.parametrize(("payload", "status", "forwarded"), ATTACKS)
async def test_no_framing_trick_smuggles_a_request_or_leaks_the_token(
    proxy, sandbox, payload, status, forwarded
):
    await victim_request(proxy)  # a pooled connection for the attack to poison
    mark = len(sandbox.seen)
    answer = await exchange(proxy, payload + FOLLOW_UP)
    assert status_of(answer) == status, answer[:200]
    reflected = await victim_request(proxy)
    assert b"GET /reflect" in reflected and VICTIM in reflected
    assert SANDBOX_TOKEN.encode() not in answer and VICTIM not in answer
    seen = sandbox.since(mark)
    assert [request.path for request in seen] == [*forwarded, "/reflect"]
    assert all(request.headers[TOKEN_FIELD] == SANDBOX_TOKEN for request in seen)
    assert b"/smuggled" not in sandbox.received


async def test_a_refused_request_is_answered_and_closed_cleanly(proxy):
    answer = await exchange(
        proxy, attack(f"Connection: content-length\r\nContent-Length: {N}\r\n", SMUGGLED)
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    assert b"content-length" in body  # says which nomination was refused


async def test_the_sandbox_learns_the_client_address_only_from_the_proxy(proxy, sandbox):
    spoofed = (
        b"X-Forwarded-For: 10.9.8.7\r\nX-Forwarded-Host: evil.example\r\n"
        b"X-Forwarded-Proto: https\r\nForwarded: for=10.9.8.7\r\nX-Real-IP-Ok: kept\r\n"
    )
    mark = len(sandbox.seen)
    reader, writer = await connect(proxy)
    writer.write(get("/headers").replace(b"\r\n\r\n", b"\r\n" + spoofed + b"\r\n"))
    assert (await read_reply(reader)).status == 200
    writer.close()
    [seen] = sandbox.since(mark)
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"
    assert seen.headers["x-forwarded-proto"] == "http"
    assert "x-forwarded-host" not in seen.headers and "forwarded" not in seen.headers
    assert seen.headers["x-real-ip-ok"] == "kept"


@pytest.mark.parametrize(
    ("request_head", "body", "expected"),
    [
        (get("/twice"), b"", (200, b"first")),
        (get("/overrun"), b"", (200, b"first")),
        (get("/gzip"), b"", (502, b"malformed response")),
        (get("/reflect", method="HEAD"), b"", (200, b"")),
        (
            b"POST /early HTTP/1.1\r\nHost: proxy\r\nContent-Length: 5\r\n" + AUTH + b"\r\n",
            b"hello",
            (200, b"early"),
        ),
    ],
    ids=["two responses", "bytes past the length", "unknown coding", "HEAD", "early answer"],
)
async def test_a_sandbox_connection_left_in_doubt_is_never_reused(
    proxy, sandbox, request_head, body, expected
):
    await victim_request(proxy)
    mark = len(sandbox.seen)
    reader, writer = await connect(proxy)
    # Pipelined, so the next request is ready the moment the first answer ends; a body is
    # sent only once the sandbox has answered, so it cannot have read it first.
    writer.write(request_head + (b"" if body else get("/reflect")))
    answer = await read_reply(reader, head=request_head.startswith(b"HEAD"))
    assert (answer.status, expected[1] in answer.body) == (expected[0], True), answer
    if body:
        writer.write(body + get("/reflect"))
    reflected = await read_reply(reader)
    writer.close()
    assert reflected.body.startswith(b"GET /reflect")
    assert b"second" not in reflected.body
    first = sandbox.since(mark)[0]
    assert int(reflected.headers["x-connection"]) != first.connection


async def test_a_response_cannot_strip_its_own_length(proxy, sandbox):
    reader, writer = await connect(proxy)
    writer.write(get("/nominate"))
    answer = await read_reply(reader)
    assert answer.headers["content-length"] == "5" and answer.body == b"hello"
    writer.write(get("/reflect"))
    assert (await read_reply(reader)).body.startswith(b"GET /reflect")
    writer.close()


@pytest.mark.parametrize(
    "last",
    [
        b"GET /last HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n" + AUTH + b"\r\n",
        b"GET /last HTTP/1.0\r\nHost: proxy\r\n" + AUTH + b"\r\n",
    ],
    ids=["Connection: close", "HTTP/1.0"],
)
async def test_nothing_behind_a_connections_last_request_is_relayed(proxy, sandbox, last):
    mark = len(sandbox.seen)
    answer = await exchange(proxy, last + get("/behind") * 4)
    assert status_of(answer) == 200 and b"ok:/last" in answer and b"/behind" not in answer
    assert [request.path for request in sandbox.since(mark)] == ["/last"]


async def test_a_malformed_body_behind_a_pipelined_request_is_answered_400_in_turn(proxy, sandbox):
    mark = len(sandbox.seen)
    broken = attack(CHUNKED, b"5\r\nhello\r\nzz\r\n")
    answer = await exchange(proxy, get("/reflect") + broken)
    reader = asyncio.StreamReader()
    reader.feed_data(answer)
    reader.feed_eof()
    assert (await read_reply(reader)).status == 200
    refused = await read_reply(reader)
    assert refused.status == 400 and b"chunk size" in refused.body
    assert [request.path for request in sandbox.since(mark)] == ["/reflect"]
