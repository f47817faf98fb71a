"""Sandbox proxy on the VM path: what a frontend really goes through, client -> sandbox
proxy -> QEMU's hostfwd -> the reference sandbox inside the microVM, against a client on
the hostfwd port directly (no proxy).

`groundflare serve --vm` starts the stack with the VM as the profile's defaults give it
(1 vCPU, 512 MiB; TCG where KVM is not usable). The direct route takes the forwarded port
and this run's internal token from `run/sandbox.json`, as `groundflare vm shell` does.
Routes alternate request by request, so both see the same machine.

What moves the bytes is the reference sandbox (vm/sandbox/sandbox.c), and its endpoints
shape the scenarios:

- download: POST /exec running `cat` on a 64 MiB file in the guest's /tmp, four times:
  256 MiB of stdout as NDJSON events (the sandbox JSON-escapes every byte, in the guest);
- upload: POST /exec with 1 MiB of stdin (its request-body limit) for `wc -c`;
- WebSocket echo on /ws: 1 MiB binary messages, one in flight, so every byte crosses the
  route twice (the proxy's upgrade path; the client masks with a zero key, so it spends
  no CPU on masking);
- small requests: GET /health, median and p90. The sandbox closes every connection, so a
  direct client connects for each request (on the clock: it has no other way), while the
  frontend keeps its connection to the proxy and the proxy connects upstream each time.

Other routes can be measured alongside (a one-off comparison adds its own Route); the
table gives each one's ratio to direct and its proxy's CPU time per unit.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import select
import socket
import statistics
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from urllib.parse import urlsplit

from bench import proc, report
from bench.backend import Backend, log_tail, progress, start_groundflare
from bench.client import pattern_chunk
from bench.worker import STACK_WORKER
from groundflare.contracts.sandbox import SandboxAddress
from groundflare.proxy import SURFACE_HEADER

DIRECT = "direct"
PROXIED = "proxied"
GUEST_FILE = "/tmp/groundflare-bench-64m"
GUEST_FILE_BYTES = 64 << 20
DOWNLOAD_COPIES = 4
DOWNLOAD_BYTES = GUEST_FILE_BYTES * DOWNLOAD_COPIES
UPLOAD_BODY_BYTES = 1 << 20  # the reference sandbox refuses longer request bodies
UPLOAD_REQUESTS = 100
WS_MESSAGE_BYTES = 1 << 20
WS_MESSAGES = 64
SMALL_REQUESTS = 300
REQUEST_TIMEOUT_SECONDS = 600.0
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class SandboxFailed(Exception):
    """The sandbox answered something other than what the scenario asked for."""


def _peer_closed(sock: socket.socket) -> bool:
    """An idle keep-alive connection has nothing to read unless the peer closed it."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class VmClient:
    """HTTP/1.1 to one route. The connection is kept while the server keeps it; a
    connection the server closed is replaced inside the timed request (its connect is part
    of what that route costs), one found closed before a request is replaced off the
    clock, and a request that met a close in flight is sent again, timed from there."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, got {base_url!r}")
        self.base_url = base_url
        self.host = parts.hostname
        self.port = parts.port
        self.headers = headers
        self.connection: http.client.HTTPConnection | None = None
        self._buffer = memoryview(bytearray(1 << 20))

    def _ready(self) -> tuple[http.client.HTTPConnection, bool]:
        """The connection to use, and whether it was open before this request."""
        connection = self.connection
        if connection is not None and connection.sock is not None and _peer_closed(connection.sock):
            self.close()
            connection = None
        if connection is None:
            connection = self.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=REQUEST_TIMEOUT_SECONDS
            )
        return connection, connection.sock is not None

    def request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[float, int, bytes]:
        """Seconds from sending to the last byte, bytes received, and the body's last 4 KiB
        (bodies are counted, never held whole)."""
        while True:
            connection, reused = self._ready()
            started = perf_counter()
            try:
                connection.request(method, path, body=body, headers=self.headers)
                response = connection.getresponse()
                received, tail = 0, b""
                while read := response.readinto(self._buffer):
                    received += read
                    tail = (tail + bytes(self._buffer[max(0, read - 4096) : read]))[-4096:]
                elapsed = perf_counter() - started
            except STALE_CONNECTION:
                self.close()
                if not reused:
                    raise
                continue
            if response.status != 200:
                self.close()
                raise SandboxFailed(f"{self.base_url}{path}: HTTP {response.status}: {tail!r}")
            return elapsed, received, tail

    def exec(self, argv: list[str], stdin: str = "") -> tuple[float, int, bytes]:
        body = json.dumps({"argv": argv, "stdin": stdin, "timeout_ms": 0}).encode()
        return self.request("POST", "/exec", body)

    def websocket(self) -> WebSocket:
        return WebSocket(self.host, self.port, self.headers)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def exit_code(tail: bytes) -> int | None:
    """The `{"exit":N}` event that ends an /exec stream."""
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    try:
        event = json.loads(lines[-1])
    except ValueError:
        return None
    return event.get("exit") if isinstance(event, dict) else None


class WebSocket:
    """The least client that echoes binary messages: unfragmented frames out (masked with
    a zero key), any frames in, payloads counted and dropped."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_SECONDS)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        head = [
            "GET /ws HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.pending = bytearray()
        while b"\r\n\r\n" not in self.pending:
            self._fill()
        answer, _, rest = bytes(self.pending).partition(b"\r\n\r\n")
        if not answer.startswith(b"HTTP/1.1 101"):
            raise SandboxFailed(f"/ws: {answer.decode(errors='replace')}")
        self.pending = bytearray(rest)
        self._buffer = memoryview(bytearray(1 << 20))

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise SandboxFailed("/ws: the connection closed")
        self.pending += chunk

    def _take(self, size: int) -> bytes:
        while len(self.pending) < size:
            self._fill()
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out

    def _skip(self, size: int) -> None:
        held = min(size, len(self.pending))
        del self.pending[:held]
        size -= held
        while size:
            read = self.sock.recv_into(self._buffer, min(size, len(self._buffer)))
            if not read:
                raise SandboxFailed("/ws: the connection closed mid-frame")
            size -= read

    def send(self, payload: bytes | memoryview, opcode: int = 2) -> None:
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        self.sock.sendall(head + b"\0\0\0\0")
        self.sock.sendall(payload)

    def receive(self) -> int:
        """One whole message's payload length."""
        total = 0
        while True:
            first, second = self._take(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._take(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._take(8))
            if second & 0x80:
                self._take(4)
            if first & 0x0F == 8:
                raise SandboxFailed("/ws: the peer closed the WebSocket")
            self._skip(size)
            total += size
            if first & 0x80:
                return total

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(struct.pack("!H", 1000), opcode=8)
        self.sock.close()


@dataclass
class Route:
    """One way to the sandbox: its client, and the proxy process on it (None: direct)."""

    name: str
    client: VmClient
    proxy_pid: int | None = None

    def cpu(self) -> float:
        return proc.cpu_seconds(self.proxy_pid) if self.proxy_pid is not None else 0.0


@dataclass
class Scenario:
    """`count` timed units per route; a unit moves `unit_bytes` one way (0: a latency)."""

    key: str
    label: str
    count: int
    unit_bytes: int
    unit: Callable[[VmClient], float]


@dataclass
class Samples:
    scenario: Scenario
    seconds: dict[str, list[float]] = field(default_factory=dict)
    proxy_cpu: dict[str, float] = field(default_factory=dict)

    def median(self, route: str) -> float:
        return statistics.median(self.seconds[route])

    def p90(self, route: str) -> float:
        return statistics.quantiles(self.seconds[route], n=10, method="inclusive")[-1]

    def mb_per_s(self, route: str) -> float:
        return self.scenario.unit_bytes / self.median(route) / proc.MB


def _download(client: VmClient) -> float:
    seconds, received, tail = client.exec(["cat", *[GUEST_FILE] * DOWNLOAD_COPIES])
    if received < DOWNLOAD_BYTES or exit_code(tail) != 0:
        raise SandboxFailed(f"{client.base_url}: {received} bytes, ending {tail[-200:]!r}")
    return seconds


UPLOAD_BODY = json.dumps({"argv": ["wc", "-c"], "stdin": "", "timeout_ms": 0}).encode()
UPLOAD_STDIN = "a" * (UPLOAD_BODY_BYTES - len(UPLOAD_BODY))


def _upload(client: VmClient) -> float:
    seconds, _, tail = client.exec(["wc", "-c"], UPLOAD_STDIN)
    events = [json.loads(line) for line in tail.splitlines()[-3:] if line.startswith(b"{")]
    out = "".join(str(e.get("data", "")) for e in events if e.get("stream") == "stdout")
    if out.strip() != str(len(UPLOAD_STDIN)) or exit_code(tail) != 0:
        raise SandboxFailed(f"{client.base_url}: wc -c said {tail[-300:]!r}")
    return seconds


WS_PAYLOAD = pattern_chunk(WS_MESSAGE_BYTES)


def _websocket(client: VmClient) -> float:
    """One session: WS_MESSAGES echoes timed, the handshake not."""
    ws = client.websocket()
    try:
        started = perf_counter()
        for _ in range(WS_MESSAGES):
            ws.send(WS_PAYLOAD)
            if ws.receive() != WS_MESSAGE_BYTES:
                raise SandboxFailed(f"{client.base_url}/ws: a short echo")
        return perf_counter() - started
    finally:
        ws.close()


def _small(client: VmClient) -> float:
    seconds, _, tail = client.request("GET", "/health")
    if b'"ok":true' not in tail:
        raise SandboxFailed(f"{client.base_url}/health: {tail!r}")
    return seconds


def scenarios(reps: int) -> list[Scenario]:
    mib = 1 << 20
    return [
        Scenario(
            "download",
            f"download {DOWNLOAD_BYTES // mib} MiB (/exec cat, NDJSON)",
            reps,
            DOWNLOAD_BYTES,
            _download,
        ),
        Scenario(
            "upload",
            f"upload 1 MiB x {UPLOAD_REQUESTS} (/exec stdin)",
            UPLOAD_REQUESTS,
            UPLOAD_BODY_BYTES,
            _upload,
        ),
        Scenario(
            "websocket",
            f"WebSocket echo {WS_MESSAGES} x 1 MiB, each way",
            reps,
            WS_MESSAGES * WS_MESSAGE_BYTES,
            _websocket,
        ),
        Scenario("small", "small request (GET /health)", SMALL_REQUESTS, 0, _small),
    ]


def measure(routes: Sequence[Route], scenario: Scenario) -> Samples:
    """One warm-up per route, then `count` units each, the routes' order rotating."""
    samples = Samples(scenario, {r.name: [] for r in routes})
    for route in routes:
        scenario.unit(route.client)
    cpu_before = {r.name: r.cpu() for r in routes}
    for index in range(scenario.count):
        shift = index % len(routes)
        order = [*routes[shift:], *routes[:shift]]
        for route in order:
            samples.seconds[route.name].append(scenario.unit(route.client))
        if scenario.unit_bytes >= 16 << 20:
            progress(
                f"proxy-vm {scenario.key} {index + 1}/{scenario.count}: "
                + ", ".join(f"{r.name} {samples.seconds[r.name][-1]:.2f} s" for r in order)
            )
    # Over the whole run, not per unit (the clock ticks in 10 ms): a proxy works only for
    # its own route's requests, so its time while the others ran is its idle cost.
    samples.proxy_cpu = {r.name: r.cpu() - cpu_before[r.name] for r in routes}
    progress(
        f"proxy-vm {scenario.key}: {scenario.count} each, medians "
        + ", ".join(f"{r.name} {samples.median(r.name) * 1e3:.2f} ms" for r in routes)
    )
    return samples


def measure_all(routes: Sequence[Route], reps: int) -> list[Samples]:
    prepare_guest(routes[0].client)
    return [measure(routes, scenario) for scenario in scenarios(reps)]


def prepare_guest(client: VmClient) -> None:
    """The file the downloads read, written once in the guest's tmpfs."""
    script = f"head -c {GUEST_FILE_BYTES} /dev/zero | tr '\\0' a > {GUEST_FILE}"
    _, _, tail = client.exec(["sh", "-c", script])
    if exit_code(tail) != 0:
        raise SandboxFailed(f"writing {GUEST_FILE} in the guest: {tail!r}")


def table(results: Sequence[Samples], routes: Sequence[Route]) -> str:
    names = [r.name for r in routes]
    others = [name for name in names if name != DIRECT]
    header = ["measure", *names, *(f"{name}/{DIRECT}" for name in others)]
    header += [f"{name} proxy CPU" for name in others]
    body = []
    for samples in results:
        scenario = samples.scenario
        units = len(samples.seconds[DIRECT])
        if scenario.unit_bytes:
            row = [scenario.label, *(f"{samples.mb_per_s(n):,.1f} MB/s" for n in names)]
            row += [f"{samples.mb_per_s(n) / samples.mb_per_s(DIRECT):.3f}" for n in others]
            gib = units * scenario.unit_bytes / (1 << 30)
            row += [f"{samples.proxy_cpu[n] / gib:.2f} s/GiB" for n in others]
            body.append(row)
            continue
        for stat, value in (("median", samples.median), ("p90", samples.p90)):
            row = [f"{scenario.label}, {stat}", *(f"{value(n) * 1e3:.2f} ms" for n in names)]
            row += [f"{value(n) / value(DIRECT):.3f}" for n in others]
            row += [
                f"{samples.proxy_cpu[n] / units * 1e6:.0f} µs/req" if stat == "median" else ""
                for n in others
            ]
            body.append(row)
    footer = (
        "throughput from the median unit; MB = 10^6 bytes; ratio = route / direct (throughput:"
        " higher is better, latency: lower is better); proxy CPU = the proxy process's"
        " user+system time over the scenario, per unit it relayed (WebSocket: per GiB each"
        " way)"
    )
    return report.pipe_table(header, body) + "\n" + footer


def summary(results: Sequence[Samples], routes: Sequence[Route], meta: dict[str, object]) -> str:
    out: dict[str, object] = {"bench": "proxy-vm", **meta}
    for samples in results:
        scenario = samples.scenario
        entry: dict[str, object] = {"count": scenario.count}
        for route in routes:
            name = route.name
            if scenario.unit_bytes:
                entry[f"{name}_mb_s"] = round(samples.mb_per_s(name), 2)
                ratio = samples.mb_per_s(name) / samples.mb_per_s(DIRECT)
            else:
                entry[f"{name}_median_ms"] = round(samples.median(name) * 1e3, 3)
                entry[f"{name}_p90_ms"] = round(samples.p90(name) * 1e3, 3)
                ratio = samples.median(name) / samples.median(DIRECT)
            if route.proxy_pid is not None:
                entry[f"{name}_ratio"] = round(ratio, 4)
                entry[f"{name}_proxy_cpu_s"] = round(samples.proxy_cpu[name], 3)
        out[scenario.key] = entry
    return json.dumps(out, ensure_ascii=False)


def direct_route(backend: Backend) -> VmClient:
    """A client on the sandbox's forwarded port with this run's credential, from
    run/sandbox.json (0600) as `groundflare vm shell` reads it."""
    assert backend.data_dir is not None
    address = SandboxAddress.model_validate_json(
        (backend.data_dir / "run" / "sandbox.json").read_text("utf-8")
    )
    return VmClient(address.url, dict([address.credential()]))


def start_vm_stack(work_dir: Path) -> tuple[Backend, list[Route]]:
    """`groundflare serve --vm`, and the direct and proxied routes to its sandbox."""
    backend = start_groundflare(STACK_WORKER, work_dir, ["--vm"])
    try:
        direct = direct_route(backend)
        proxy_pid = backend.component_pid("proxy")
    except BaseException:
        backend.stop()
        raise
    routes = [
        Route(DIRECT, direct),
        Route(
            PROXIED,
            VmClient(backend.ready["sandbox"], {SURFACE_HEADER: backend.ready["surface_token"]}),
            proxy_pid,
        ),
    ]
    return backend, routes


def machine() -> dict[str, object]:
    from groundflare.vm import backend_for_host
    from groundflare.vm.qemu import QemuBackend

    host = backend_for_host()
    accel = host.accel.kind if isinstance(host, QemuBackend) else host.name
    return {"cpus": os.cpu_count(), "accel": accel, "loadavg": os.getloadavg()[0]}


def run(reps: int, work_dir: Path) -> report.SectionReport:
    backend, routes = start_vm_stack(work_dir)
    meta = {**machine(), "reps": reps}
    try:
        results = measure_all(routes, reps)
    except BaseException:
        progress(f"groundflare log:\n{log_tail(backend.log_path)}")
        raise
    finally:
        for route in routes:
            route.client.close()
        backend.stop()
    meta["loadavg_after"] = os.getloadavg()[0]
    title = f"Sandbox proxy on the VM path ({meta['accel']}, {meta['cpus']} cores)"
    return report.SectionReport(title, table(results, routes), summary(results, routes, meta))
