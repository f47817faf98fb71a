"""The microVM for real: QEMU boots the image, and the sandbox is used through the forwarded
port exactly as the proxy will use it. Isolation is checked from inside the guest."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from groundflare.profile import Mount
from groundflare.vm.health import probe
from groundflare.vm.qemu import QemuBackend
from tests.vm_support import (
    TOKEN_HEADER,
    Booted,
    booted_vm,
    group_alive,
    remove_tree,
    shared_dir,
    wait_gone,
)

pytestmark = pytest.mark.slow


class _Answer(http.server.BaseHTTPRequestHandler):
    """Stands in for the control plane (and for the REST API): answers and counts."""

    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _server(body: bytes) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.hits = 0  # type: ignore[attr-defined]
    server.body = body  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class World:
    """The host around one booted VM: shares, the control plane, things it must not reach."""

    def __init__(self, tmp: Path, backend: QemuBackend) -> None:
        self.ro = shared_dir("gf-vm-ro-", writable_by_vm=False, backend=backend)
        self.rw = shared_dir("gf-vm-rw-", writable_by_vm=True, backend=backend)
        (self.ro / "readme.txt").write_text("from the host\n")
        (self.ro / "readme.txt").chmod(0o644)
        self.controlplane = _server(b"controlplane-ok")
        self.rest_api = _server(b"rest-api")
        self.other = socket.create_server(("127.0.0.1", 0))
        self.shim_socket = tmp / "run" / "shim.sock"
        self.shim_socket.parent.mkdir()
        self.shim = socket.socket(socket.AF_UNIX)
        self.shim.bind(str(self.shim_socket))
        self.shim.listen()

    @property
    def mounts(self) -> list[Mount]:
        return [
            Mount(host_path=self.ro, guest_path="/workspace/ro", read_only=True),
            Mount(host_path=self.rw, guest_path="/workspace/rw", read_only=False),
        ]

    @property
    def controlplane_url(self) -> str:
        return f"http://127.0.0.1:{self.controlplane.server_address[1]}"

    def close(self) -> None:
        for server in (self.controlplane, self.rest_api):
            server.shutdown()
            server.server_close()
        self.other.close()
        self.shim.close()
        remove_tree(self.ro)
        remove_tree(self.rw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    found = World(tmp_path_factory.mktemp("vm-world"), QemuBackend())
    yield found
    found.close()


@pytest.fixture(scope="module")
def vm(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    with booted_vm(tmp_path_factory.mktemp("vm"), world.mounts, world.controlplane_url) as booted:
        yield booted


def test_health_answers_through_the_forwarded_port(vm: Booted) -> None:
    status, body = vm.get("/health")
    assert status == 200
    answer = json.loads(body)
    assert answer["ok"] is True
    assert answer["uid"] != 0  # the sandbox runs unprivileged


def test_requests_without_the_internal_token_are_refused(vm: Booted) -> None:
    assert vm.get("/health", token="")[0] == 401
    assert vm.get("/health", token="not-" + vm.token)[0] == 401
    assert vm.get("/files?path=/workspace", token="")[0] == 401


def test_the_token_is_not_on_any_host_command_line(vm: Booted) -> None:
    cmdline = Path(f"/proc/{vm.vm.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{vm.vm.pid}/environ").read_bytes()
    assert vm.token.encode() not in cmdline
    assert vm.token.encode() not in environ
    assert b"restrict=on" in cmdline


def test_a_command_runs_and_streams_its_output(vm: Booted) -> None:
    # The command writes its second line only after the test, having read the first,
    # creates a file: the first line can only have arrived if output streams.
    gate = f"/tmp/go-{os.getpid()}"
    script = f"echo first; while [ ! -e {gate} ]; do sleep 0.05; done; echo second >&2; exit 3"
    body = json.dumps({"argv": ["sh", "-c", script], "timeout_ms": 60000})
    request = urllib.request.Request(
        vm.url + "/exec", data=body.encode(), headers={TOKEN_HEADER: vm.token}
    )
    events: list[dict[str, object]] = []
    with urllib.request.urlopen(request, timeout=60) as response:
        for line in response:
            events.append(json.loads(line))
            if events[-1].get("data") == "first\n":
                assert vm.exec("touch", gate)[-1] == {"exit": 0}
    assert [(e["stream"], e["data"]) for e in events if "stream" in e] == [
        ("stdout", "first\n"),
        ("stderr", "second\n"),
    ]
    assert events[-1] == {"exit": 3}


def test_a_websocket_round_trips(vm: Booted) -> None:
    async def talk() -> list[object]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(vm.url + "/ws", headers={TOKEN_HEADER: vm.token}) as ws,
        ):
            await ws.send_str("hello, guest")
            text = await ws.receive(timeout=10)
            await ws.send_bytes(bytes(range(256)) * 300)
            binary = await ws.receive(timeout=10)
            return [text.data, binary.data]

    assert asyncio.run(talk()) == ["hello, guest", bytes(range(256)) * 300]


def test_a_file_written_on_the_host_is_visible_in_the_guest(vm: Booted, world: World) -> None:
    note = world.rw / "from-host.txt"
    note.write_text("written on the host\n")
    note.chmod(0o644)
    assert vm.sh("cat /workspace/rw/from-host.txt")[1] == "written on the host\n"
    status, body = vm.get("/files?path=/workspace/ro")
    assert status == 200
    assert [e["name"] for e in json.loads(body)["entries"]] == ["readme.txt"]


def test_a_read_write_mount_takes_writes_from_the_guest(vm: Booted, world: World) -> None:
    code, _, err = vm.sh("echo from-guest > /workspace/rw/guest.txt")
    assert code == 0, err
    assert (world.rw / "guest.txt").read_text() == "from-guest\n"


def test_a_read_only_mount_refuses_writes_from_the_guest(vm: Booted, world: World) -> None:
    code, _, err = vm.sh("echo x > /workspace/ro/new.txt")
    assert code != 0
    assert "Read-only file system" in err
    code, _, _ = vm.sh("rm /workspace/ro/readme.txt")
    assert code != 0
    assert sorted(p.name for p in world.ro.iterdir()) == ["readme.txt"]


def test_the_control_plane_is_reachable_from_the_guest(vm: Booted, world: World) -> None:
    code, out, err = vm.sh('wget -q -O- "$GROUNDFLARE_CONTROLPLANE_URL/"')
    assert (code, out) == (0, "controlplane-ok"), err


def test_nothing_else_on_the_host_is_reachable_from_the_guest(vm: Booted, world: World) -> None:
    rest = world.rest_api.server_address[1]
    other = world.other.getsockname()[1]
    for host, port in [("10.0.2.2", rest), ("10.0.2.2", other), ("10.0.2.100", rest)]:
        code, out, _ = vm.sh(f"nc -w 3 {host} {port} </dev/null && echo connected")
        assert code != 0 and "connected" not in out, (host, port)
    assert world.rest_api.hits == 0  # type: ignore[attr-defined]
    # The shim's unix socket is a host path; the guest has no such file to connect to.
    code, _, _ = vm.sh(f"test -e {world.shim_socket}")
    assert code != 0
    code, out, _ = vm.sh("wget -q -O- http://10.0.2.2:9/ || echo refused")
    assert "refused" in out


def test_killing_qemu_is_detected_and_leaves_nothing(tmp_path: Path) -> None:
    with booted_vm(tmp_path) as booted:
        pid = booted.vm.pid
        os.kill(pid, signal.SIGKILL)
        assert booted.vm.process.wait(timeout=10) == -signal.SIGKILL
        assert wait_gone(pid)
        assert booted.vm.launch.health is not None
        assert not asyncio.run(probe(booted.vm.launch.health))


def test_stop_leaves_no_qemu_behind(tmp_path: Path, world: World) -> None:
    with booted_vm(tmp_path, controlplane_url=world.controlplane_url) as booted:
        # A control-plane request makes QEMU spawn a socat: it must go too.
        assert booted.sh('wget -q -O- "$GROUNDFLARE_CONTROLPLANE_URL/"')[0] == 0
        pid = booted.vm.pid
        assert group_alive(pid)
    assert booted.vm.process.returncode is not None
    assert wait_gone(pid)
    assert not Path(f"/proc/{pid}").exists()
