"""The sandbox VM under `groundflare serve`: behind the proxy, supervised, isolated, stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from groundflare.profile import Installation
from groundflare.proxy import SURFACE_HEADER
from groundflare.vm.qemu import QemuBackend
from groundflare.vm.resources import Mount, VmResources
from tests.stack import REPO, component_pid, restarted, runtime, start_stack
from tests.vm_support import shared_dir, vm_image

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
pytestmark = pytest.mark.slow


def qemu_processes(data_dir: Path) -> list[int]:
    """This stack's QEMU processes (other tests and benchmarks may run their own)."""
    found = subprocess.run(["pgrep", "-f", "groundflare-sandbox"], capture_output=True, text=True)
    ours = []
    for pid in found.stdout.split():
        try:
            cwd = Path(f"/proc/{pid}/cwd").readlink()
        except OSError:
            continue
        if data_dir in cwd.parents:
            ours.append(int(pid))
    return ours


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    vm_image()  # built once, cached on disk
    backend = QemuBackend()
    ro = shared_dir("gf-ro-", writable_by_vm=False, backend=backend)
    rw = shared_dir("gf-rw-", writable_by_vm=True, backend=backend)
    (ro / "readme.txt").write_text("read me\n")
    (ro / "readme.txt").chmod(0o644)
    data_dir = tmp_path_factory.mktemp("vmstack") / "data"
    install = Installation(data_dir)
    data_dir.mkdir(parents=True)
    profile = install.create().model_copy(
        update={
            "vm": VmResources(enabled=True, cpus=1, memory_mib=512),
            "mounts": [
                Mount(host_path=ro, guest_path="/workspace/ro", read_only=True),
                Mount(host_path=rw, guest_path="/workspace/rw", read_only=False),
            ],
        }
    )
    install.save(profile)
    stack = start_stack([EXAMPLE], data_dir)
    yield stack, ro, rw
    stack.stop()


def proxy(stack, path: str, body: dict | None = None) -> tuple[int, bytes]:
    async def go() -> tuple[int, bytes]:
        headers = {SURFACE_HEADER: stack.ready["surface_token"]}
        async with aiohttp.ClientSession(stack.ready["sandbox"], headers=headers) as session:
            method = session.post if body is not None else session.get
            async with method(path, json=body) as response:
                return response.status, await response.read()

    return asyncio.run(go())


def sh(stack, script: str) -> tuple[int, str, str]:
    status, data = proxy(stack, "/exec", {"argv": ["sh", "-c", script], "timeout_ms": 20000})
    assert status == 200, data
    events = [json.loads(line) for line in data.splitlines()]
    out = "".join(str(e["data"]) for e in events if e.get("stream") == "stdout")
    err = "".join(str(e["data"]) for e in events if e.get("stream") == "stderr")
    (code,) = [int(e["exit"]) for e in events if "exit" in e]
    return code, out, err


def test_the_ready_line_names_the_proxy_in_front_of_the_vm(world):
    stack, _, _ = world
    assert runtime(stack.data_dir)["components"]["vm"]["state"] == "running"
    assert stack.ready["sandbox"].startswith("http://127.0.0.1:")
    assert proxy(stack, "/health")[0] == 200


def test_a_command_streams_and_a_websocket_round_trips_through_the_proxy(world):
    stack, _, _ = world
    assert sh(stack, "echo one; echo two >&2; exit 3") == (3, "one\n", "two\n")

    async def talk() -> str:
        headers = {SURFACE_HEADER: stack.ready["surface_token"]}
        async with (
            aiohttp.ClientSession(stack.ready["sandbox"], headers=headers) as session,
            session.ws_connect("/ws") as ws,
        ):
            await ws.send_str("through the proxy")
            return (await ws.receive(timeout=10)).data

    assert asyncio.run(talk()) == "through the proxy"


def test_mounts_from_the_profile(world):
    stack, ro, rw = world
    (rw / "from-host.txt").write_text("hello guest\n")
    (rw / "from-host.txt").chmod(0o644)
    assert sh(stack, "cat /workspace/rw/from-host.txt")[1] == "hello guest\n"
    status, body = proxy(stack, "/files?path=/workspace/ro")
    assert status == 200 and [e["name"] for e in json.loads(body)["entries"]] == ["readme.txt"]
    code, _, err = sh(stack, "echo x > /workspace/ro/new.txt")
    assert code != 0 and "Read-only file system" in err
    assert sorted(p.name for p in ro.iterdir()) == ["readme.txt"]


def test_the_guest_reaches_the_control_plane_and_nothing_else(world):
    stack, _, _ = world
    code, out, err = sh(stack, 'wget -q -O- "$GROUNDFLARE_CONTROLPLANE_URL/"')
    assert code == 0 and json.loads(out)["service"] == "controlplane", err
    api_port = int(stack.ready["api"].rsplit(":", 1)[1])
    worker_port = int(stack.url.rsplit(":", 1)[1])
    for port in (api_port, worker_port, 22):
        code, out, _ = sh(stack, f"nc -w 3 10.0.2.2 {port} </dev/null && echo connected")
        assert code != 0 and "connected" not in out, port
    shim_socket = stack.data_dir / "run" / "shim.sock"
    assert sh(stack, f"test -e {shim_socket}")[0] != 0


def test_a_killed_qemu_is_restarted_and_the_sandbox_answers_again(world):
    stack, _, _ = world
    old = component_pid(stack.data_dir, "vm")
    os.kill(old, signal.SIGKILL)
    restarted(stack.data_dir, "vm", old, timeout=120)
    assert proxy(stack, "/health")[0] == 200


def test_sigterm_leaves_no_qemu_behind(world):
    stack, _, _ = world
    assert qemu_processes(stack.data_dir)
    assert stack.stop() == 0
    assert [e["event"] for e in stack.events()][-1] == "stopped"
    assert qemu_processes(stack.data_dir) == []
