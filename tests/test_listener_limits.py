"""The shim's listeners hold their limits against a hostile local client.

The REST port is reachable by any local process and by browser pages; the binding
socket only by workerd, and every D1/KV/R2 call needs it. These tests run the real
shim (`python -m shim`, as serve starts it) or a whole stack, speak raw HTTP where a
client library would hide the connection, and check that the limits hold and that
the binding path keeps answering. Limits and values: docs/reliability-shim.md.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from groundflare.contracts.resources import RESOURCE_HEADER, TOKEN_HEADER
from groundflare.contracts.secrets_pipe import secrets_pipe
from groundflare.shim.api import API_LIMITS
from groundflare.shim.server import BINDING_LIMITS
from tests.stack import REPO, WORKERS, RunningStack, component_pid, post_json

TOKEN = "binding-token-for-the-limit-tests-0123"
API_TOKEN = "api-token-for-the-limit-tests-0123456"
DB_ID = "db-limits"
# A limit that fails shows as a hang: every wait has this generous deadline instead.
DEADLINE = 30.0
# Timeouts for the `quick` shim ($GROUNDFLARE_TEST_API_TIMEOUT): short, so tests end soon.
QUICK_TIMEOUT = 1.0
MIB = 1024 * 1024


@dataclass
class ShimProcess:
    process: subprocess.Popen[bytes]
    port: int
    binding_path: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rest(self, **options: int) -> socket.socket:
        """A connection to the REST listener; `options` are SOL_SOCKET options set first."""
        conn = socket.socket()
        for name, value in options.items():
            conn.setsockopt(socket.SOL_SOCKET, getattr(socket, name), value)
        conn.settimeout(DEADLINE)
        conn.connect(("127.0.0.1", self.port))
        return conn

    def binding(self) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(DEADLINE)
        conn.connect(str(self.binding_path))
        return conn

    def query(self, conn: socket.socket | None = None) -> object:
        """`SELECT 1` over the binding socket, as workerd's D1 binding sends it."""
        conn = conn or self.binding()
        body = b'{"sql": "SELECT 1 AS x"}'
        conn.sendall(
            b"POST /query?resultsFormat=ROWS_AND_COLUMNS HTTP/1.1\r\nHost: shim\r\n"
            + f"{RESOURCE_HEADER}: d1:{DB_ID}\r\n{TOKEN_HEADER}: {TOKEN}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        reply = read_reply(conn.makefile("rb"))
        assert reply is not None and reply.status == 200, reply
        return json.loads(reply.body)[0]["results"]["rows"]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextmanager
def running_shim(
    data_dir: Path, env: dict[str, str] | None = None, nofile: int | None = None
) -> Iterator[ShimProcess]:
    """`python -m shim` with a REST listener on a loopback port and one D1 database."""
    run = data_dir / "run"
    run.mkdir(parents=True, mode=0o700)
    config = data_dir / "shim.json"
    shim_socket = run / "shim.sock"
    d1 = {"kind": "d1", "id": DB_ID, "name": "m"}
    config.write_text(
        json.dumps({"socket": str(shim_socket), "data_dir": str(data_dir), "resources": [d1]})
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(511)
    control_read, control_write = os.pipe()
    secrets_fd = secrets_pipe({"token": TOKEN, "api_token": API_TOKEN, "door_token": "d"})
    argv = [sys.executable, "-m", "groundflare.shim", "--config", str(config)]
    argv += ["--control-fd", str(control_write), "--api-fd", str(listener.fileno())]
    argv += ["--secrets-fd", str(secrets_fd)]

    def lower_nofile() -> None:
        if nofile is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    process = subprocess.Popen(
        argv,
        cwd=REPO,
        pass_fds=(listener.fileno(), control_write, secrets_fd),
        env={**os.environ, **(env or {})},
        preexec_fn=lower_nofile,
    )
    os.close(control_write)
    os.close(secrets_fd)
    port = listener.getsockname()[1]
    listener.close()
    try:
        assert select.select([control_read], [], [], DEADLINE)[0], "the shim never said it listens"
        assert b'"listen"' in os.read(control_read, 4096)
        yield ShimProcess(process, port, shim_socket)
    finally:
        os.close(control_read)
        process.send_signal(signal.SIGTERM)
        assert process.wait(DEADLINE) == 0


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShimProcess]:
    """The shim with its production limits."""
    with running_shim(tmp_path_factory.mktemp("shim")) as running:
        yield running


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShimProcess]:
    """The shim with its REST timeouts shortened to QUICK_TIMEOUT."""
    env = {"GROUNDFLARE_TEST_API_TIMEOUT": str(QUICK_TIMEOUT)}
    with running_shim(tmp_path_factory.mktemp("quick"), env) as running:
        yield running


# ---- a raw HTTP/1.1 client ----


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def read_reply(stream: BinaryIO) -> Reply | None:
    """One response by its Content-Length (all the shim sends); None at a clean EOF."""
    line = stream.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, stream.read(int(headers.get("content-length", 0))))


def read_to_end(conn: socket.socket) -> bytes:
    """Everything until the shim closes (a reset after its last bytes counts as a close)."""
    received = b""
    with suppress(ConnectionResetError):
        while chunk := conn.recv(65536):
            received += chunk
    return received


def request(path: str, host: str, *, token: bool = True, extra: bytes = b"") -> bytes:
    auth = f"Authorization: Bearer {API_TOKEN}\r\n".encode() if token else b""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode() + auth + extra + b"\r\n"


def head_of_size(size: int, host: str) -> bytes:
    """A request whose head (request line to blank line) is exactly `size` bytes."""
    bare = request("/p", host, extra=b"X-Pad: \r\n")
    return request("/p", host, extra=b"X-Pad: " + b"a" * (size - len(bare)) + b"\r\n")


def send_in_background(conn: socket.socket, data: bytes, piece: int = MIB) -> threading.Thread:
    """Send `data` while the test reads; the shim may cut the connection midway."""

    def send() -> None:
        with suppress(OSError):
            for start in range(0, len(data), piece):
                conn.sendall(data[start : start + piece])

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


# ---- the request head limit ----


def test_a_96_mib_header_is_refused_431_at_little_cost_and_bindings_keep_answering(shim):
    before = shim.cpu_seconds()
    conn = shim.rest()
    head = request("/p", shim.host, extra=b"X-Big: " + b"a" * (96 * MIB) + b"\r\n")
    sender = send_in_background(conn, head)
    received = read_to_end(conn)
    sender.join(DEADLINE)
    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Connection: close\r\n" in received
    assert received.endswith(b"request head larger than 65536 bytes")
    # Not a timing: the CPU the shim spent. Before the limit this head cost it 8 s of CPU
    # (quadratic concatenation) while every binding call waited; now it is cut at 64 KiB.
    assert shim.cpu_seconds() - before < 2.0
    assert shim.query() == [[1]]


@pytest.mark.parametrize("pieces", [1, 200], ids=["in-one-write", "in-200-writes"])
def test_a_rest_head_of_64_kib_is_served_and_one_byte_more_is_refused(shim, pieces):
    limit = API_LIMITS.max_head
    for size, status in [(limit, 404), (limit + 1, 431)]:
        conn = shim.rest()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = head_of_size(size, shim.host)
        step = -(-len(head) // pieces)
        for start in range(0, len(head), step):
            conn.sendall(head[start : start + step])
        reply = read_reply(conn.makefile("rb"))
        assert reply is not None and reply.status == status, (size, reply)
        conn.close()


def test_the_binding_socket_takes_heads_up_to_1_mib(shim):
    limit = BINDING_LIMITS.max_head
    # 400: the head reached the dispatcher, which wants a resource tag; 431: it did not.
    for size, status in [(limit, 400), (limit + 1, 431)]:
        conn = shim.binding()
        conn.sendall(head_of_size(size, "shim"))
        reply = read_reply(conn.makefile("rb"))
        assert reply is not None and reply.status == status, (size, reply)
    assert shim.query() == [[1]]


def test_a_long_head_dripped_in_small_reads_is_parsed_whole(shim):
    """A head arriving in thousands of reads is held until lines end, not joined piecewise."""
    conn = shim.rest()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = head_of_size(60 * 1024, shim.host)
    before = shim.cpu_seconds()
    for start in range(0, len(head), 16):
        conn.sendall(head[start : start + 16])
    reply = read_reply(conn.makefile("rb"))
    assert reply is not None and reply.status == 404
    assert shim.cpu_seconds() - before < 2.0


# ---- timeouts on the REST listener ----


def test_a_head_that_stalls_is_answered_408_and_closed(quick):
    conn = quick.rest()
    conn.sendall(b"GET /_groundflare/health HTTP/1.1\r\nHost: ")
    received = read_to_end(conn)
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_a_connection_that_never_sends_is_closed(quick):
    assert read_to_end(quick.rest()) == b""


def test_an_idle_kept_alive_connection_is_closed_but_an_idle_binding_one_is_not(quick):
    binding = quick.binding()
    assert quick.query(binding) == [[1]]
    conn = quick.rest()
    conn.sendall(request("/p", quick.host))
    stream = conn.makefile("rb")
    reply = read_reply(stream)
    assert reply is not None and reply.status == 404
    assert read_reply(stream) is None
    # The binding socket has no idle timeout: workerd's pooled connection still works.
    assert quick.query(binding) == [[1]]


def test_a_body_that_stalls_is_cut(quick):
    conn = quick.rest()
    conn.sendall(request("/p", quick.host, extra=b"Content-Length: 100\r\n") + b"only part")
    stream = conn.makefile("rb")
    reply = read_reply(stream)
    assert reply is not None and reply.status == 404
    assert read_reply(stream) is None


def test_a_client_that_never_reads_its_answers_is_cut(quick):
    """Pipelined answers pile up only to the socket buffers: then the stall timeout cuts."""
    conn = quick.rest(SO_RCVBUF=4096)
    one = request("/p", quick.host, extra=b"X-Pad: " + b"a" * 1000 + b"\r\n")
    cut = threading.Event()

    def flood() -> None:
        try:
            while True:
                conn.sendall(one * 32)
        except OSError:
            cut.set()

    threading.Thread(target=flood, daemon=True).start()
    assert cut.wait(DEADLINE)


# ---- pipelining ----


def test_pipelined_requests_are_answered_in_order(shim):
    conn = shim.rest()
    conn.sendall(b"".join(request(f"/p{n}", shim.host) for n in range(40)))
    stream = conn.makefile("rb")
    for n in range(40):
        reply = read_reply(stream)
        assert reply is not None and reply.status == 404
        assert f"GET /p{n}".encode() in reply.body


def test_a_read_carrying_more_than_64_requests_gets_503_after_64_answers_then_closes(shim):
    """RFC 9112 9.3.2: a pipelining client retries what a closed connection left unanswered."""
    conn = shim.rest()
    sender = send_in_background(conn, b"".join(request(f"/p{n}", shim.host) for n in range(5000)))
    stream = conn.makefile("rb")
    replies = []
    with suppress(ConnectionResetError):
        while (reply := read_reply(stream)) is not None:
            replies.append(reply)
    sender.join(DEADLINE)
    *answered, refused = replies
    assert API_LIMITS.pipeline_cut <= len(answered) < 5000
    for n, reply in enumerate(answered):
        assert reply.status == 404 and f"GET /p{n}".encode() in reply.body
    assert (refused.status, refused.body) == (503, b"too many pipelined requests")
    assert refused.headers["connection"] == "close"


@pytest.mark.parametrize(
    "pad", [0, 4000], ids=["small-requests-cut-per-read", "large-requests-paused-and-stalled"]
)
def test_a_pipelined_flood_that_never_reads_leaves_the_shims_memory_bounded(quick, pad):
    """Before the limits, one such client sending 100 MB grew the shim by over 1 GB."""
    one = request("/_groundflare/health", quick.host, extra=b"X-Pad: " + b"a" * pad + b"\r\n")
    batch = one * (MIB // len(one))
    before = quick.rss_bytes()
    peak = before

    def flood() -> None:
        offered = 0
        while offered < 24 * MIB:
            conn = quick.rest()
            with suppress(OSError):
                while offered < 24 * MIB:
                    offered += len(batch)
                    conn.sendall(batch)
            conn.close()

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, quick.rss_bytes())
        threads[0].join(0.05)
    for thread in threads:
        thread.join()
    # 192 MiB offered by 8 connections at once; generous against the unbounded growth.
    assert peak - before < 150 * MIB
    assert quick.query() == [[1]]


# ---- Host: no DNS rebinding ----


@pytest.mark.parametrize("path", ["/_groundflare/health", "/client/v4/accounts"])
@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "127.0.0.1",
        "127.0.0.1:1",
        "localhost",
        "[::1]:{port}",
        "127.0.0.1:{port}.evil.example",
        None,
    ],
)
def test_a_request_naming_another_host_is_misdirected(shim, path, host):
    conn = shim.rest()
    named = "" if host is None else f"Host: {host.format(port=shim.port)}\r\n"
    auth = f"Authorization: Bearer {API_TOKEN}\r\n"
    conn.sendall(f"GET {path} HTTP/1.1\r\n{named}{auth}\r\n".encode())
    reply = read_reply(conn.makefile("rb"))
    assert reply is not None and reply.status == 421
    allowed = f"127.0.0.1:{shim.port} or localhost:{shim.port}"
    assert json.loads(reply.body) == {
        "success": False,
        "errors": [{"code": 7000, "message": f"Misdirected request: Host must be {allowed}"}],
        "messages": [],
        "result": None,
    }


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}"])
def test_the_listeners_own_names_are_answered(shim, host):
    conn = shim.rest()
    conn.sendall(request("/_groundflare/health", host.format(port=shim.port), token=False))
    reply = read_reply(conn.makefile("rb"))
    # No supervisor wrote runtime.json here: health says so, rather than refusing.
    assert reply is not None and reply.status == 503
    assert json.loads(reply.body) == {"ok": False, "components": {}}


# ---- file descriptors ----


def test_the_shim_raises_its_open_file_limit_to_the_hard_limit(tmp_path):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard <= 256:
        pytest.skip("the hard open-file limit leaves nothing to raise")
    with running_shim(tmp_path / "data", nofile=256) as low:
        limits = Path(f"/proc/{low.process.pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max open files")]
    soft, limit_hard = line.split()[3:5]
    assert soft == limit_hard == str(hard)


@contextmanager
def open_files(needed: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < needed:
        pytest.skip(f"the test needs {needed} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1100_half_sent_rest_connections_leave_d1_and_kv_calls_working(
    stacks: Callable[..., RunningStack], tmp_data: Path
):
    stack = stacks([WORKERS / "d1" / "wrangler.toml", WORKERS / "kv" / "wrangler.toml"], tmp_data)
    d1, kv = stack.ready["workers"]["d1-probe"], stack.ready["workers"]["kv-probe"]
    host, port = stack.ready["api"].removeprefix("http://").split(":")
    pid = component_pid(stack.data_dir, "shim")
    fds = Path(f"/proc/{pid}/fd")
    fds_before = len(list(fds.iterdir()))
    cap = API_LIMITS.max_connections
    assert cap is not None
    half_sent = f"GET /_groundflare/health HTTP/1.1\r\nHost: {host}:{port}\r\nX-Wait".encode()
    with open_files(1500):
        conns = []
        try:
            for _ in range(1100):
                conn = socket.create_connection((host, int(port)), timeout=DEADLINE)
                conn.sendall(half_sent)
                conns.append(conn)
            # One more, silent: refused like every connection past the cap, and since it sent
            # nothing its 503 arrives whole. When it is here, the shim has admitted or
            # refused each of the 1,100 before it (refused ones may see a reset instead of
            # their 503: they had sent bytes the shim never read).
            late = socket.create_connection((host, int(port)), timeout=DEADLINE)
            assert read_to_end(late).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            admitted = []
            for conn in conns:
                conn.setblocking(False)
                with suppress(ConnectionResetError):
                    try:
                        refused = conn.recv(4096)
                    except BlockingIOError:
                        admitted.append(conn)
                        continue
                    assert not refused or refused.startswith(b"HTTP/1.1 503 Service")
            assert len(admitted) == cap
            assert len(list(fds.iterdir())) - fds_before <= cap + 16

            # An admitted connection is served as soon as its head is complete.
            admitted[0].setblocking(True)
            admitted[0].sendall(b": 1\r\n\r\n")
            reply = read_reply(admitted[0].makefile("rb"))
            assert reply is not None and reply.status in (200, 503)
            assert json.loads(reply.body)["components"]["shim"]["state"] == "running"

            for n in range(20):
                step = {"op": "first", "sql": f"SELECT {n} AS n", "col": "n"}
                assert post_json(d1, [step]) == [{"ok": n}]
                steps = [{"op": "put", "key": f"k{n}", "value": "v"}, {"op": "get", "key": f"k{n}"}]
                assert post_json(kv, steps) == [{"ok": None}, {"ok": "v"}]
        finally:
            for conn in conns:
                conn.close()


def test_kv_metadata_beyond_the_binding_head_limit_fails_only_that_call(
    stacks: Callable[..., RunningStack], tmp_data: Path
):
    stack = stacks([WORKERS / "kv" / "wrangler.toml"], tmp_data)
    url = stack.ready["workers"]["kv-probe"]

    def put(metadata_bytes: int) -> object:
        options = {"metadata": "m" * metadata_bytes}
        return post_json(url, [{"op": "put", "key": "k", "value": "v", "options": options}])[0]

    # Under the binding limit the shim still sees the metadata, and answers as production.
    assert put(600 * 1024) == {
        "error": {
            "name": "Error",
            "message": "KV PUT failed: 413 Metadata length of 614402 exceeds limit of 1024.",
        }
    }
    # Beyond it, workerd's call fails on the 431; its next call on the socket succeeds.
    assert put(2 * MIB) == {
        "error": {"name": "Error", "message": "KV PUT failed: 431 Request Header Fields Too Large"}
    }
    steps = [{"op": "put", "key": "k", "value": "v"}, {"op": "get", "key": "k"}]
    assert post_json(url, steps) == [{"ok": None}, {"ok": "v"}]
