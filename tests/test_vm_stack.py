"""The sandbox VM under `groundflare serve`: behind the proxy, supervised, isolated, stopped;
the same for the reference sandbox (token on a descriptor, its own header, port 8080) and
for a production-style Go one (token in an environment variable, Authorization: Bearer,
port 4000), each run unchanged with its contract written in the profile."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from groundflare.contracts.sandbox import SandboxAddress
from groundflare.profile import Installation
from groundflare.proxy import SURFACE_HEADER
from groundflare.vm.go_sandbox import go_contract
from groundflare.vm.qemu import QemuBackend
from groundflare.vm.resources import Mount, SandboxContract, VmResources
from tests.stack import REPO, RunningStack, component_pid, restarted, runtime, start_stack
from tests.vm_support import GoApi, ReferenceApi, SandboxApi, go_sandbox, shared_dir, vm_image

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


@dataclass
class World:
    stack: RunningStack
    ro: Path
    rw: Path
    flavour: str
    # Through the proxy with the surface token, as the frontend reaches it.
    api: SandboxApi

    @property
    def address(self) -> SandboxAddress:
        return SandboxAddress.model_validate_json(
            (self.stack.data_dir / "run" / "sandbox.json").read_text()
        )


def contract(flavour: str) -> SandboxContract:
    if flavour == "go":
        return go_contract(go_sandbox())
    vm_image()  # built once, cached on disk
    return SandboxContract()


@pytest.fixture(scope="module", params=["reference", "go"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    flavour = request.param
    backend = QemuBackend()
    ro = shared_dir("gf-ro-", writable_by_vm=False, backend=backend)
    rw = shared_dir("gf-rw-", writable_by_vm=True, backend=backend)
    (ro / "readme.txt").write_text("read me\n")
    (ro / "readme.txt").chmod(0o644)
    data_dir = tmp_path_factory.mktemp(f"vmstack-{flavour}") / "data"
    install = Installation(data_dir)
    data_dir.mkdir(parents=True)
    profile = install.create().model_copy(
        update={
            "vm": VmResources(enabled=True, cpus=1, memory_mib=512, sandbox=contract(flavour)),
            "mounts": [
                Mount(host_path=ro, guest_path="/workspace/ro", read_only=True),
                Mount(host_path=rw, guest_path="/workspace/rw", read_only=False),
            ],
        }
    )
    install.save(profile)
    stack = start_stack([EXAMPLE], data_dir)
    headers = {SURFACE_HEADER: str(stack.ready["surface_token"])}
    kind = GoApi if flavour == "go" else ReferenceApi
    yield World(stack, ro, rw, flavour, kind(str(stack.ready["sandbox"]), headers))
    stack.stop()


def test_the_ready_line_names_the_proxy_in_front_of_the_vm(world: World) -> None:
    assert runtime(world.stack.data_dir)["components"]["vm"]["state"] == "running"
    assert str(world.stack.ready["sandbox"]).startswith("http://127.0.0.1:")
    assert world.api.call("GET", "/health")[0] == 200


def test_the_sandbox_checks_its_own_credential_and_the_proxy_presents_it(world: World) -> None:
    address = world.address
    direct = type(world.api)(address.url, dict([address.credential()]))
    assert direct.call("GET", "/health")[0] == 200
    assert type(world.api)(address.url, {}).call("GET", "/health")[0] == 401
    wrong = dict([address.model_copy(update={"token": "not-it"}).credential()])
    assert type(world.api)(address.url, wrong).call("GET", "/health")[0] == 401
    # A frontend's own credential header never reaches the sandbox in place of the proxy's.
    smuggled = {**world.api.headers, address.header: "Bearer not-it"}
    assert type(world.api)(world.api.base, smuggled).call("GET", "/health")[0] == 200


def test_the_commands_it_runs_cannot_read_its_token(world: World) -> None:
    token = world.address.token
    _, out, _ = world.api.sh("env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline; echo done")
    assert out.endswith("done\n") and "PATH=" in out
    assert token not in out


def test_a_command_streams_its_output_through_the_proxy(world: World) -> None:
    assert world.api.sh("echo one; echo two >&2; exit 3") == (3, "one\n", "two\n")


def test_a_websocket_round_trips_through_the_proxy(world: World) -> None:
    async def talk() -> str:
        async with aiohttp.ClientSession(world.api.base, headers=world.api.headers) as session:
            if world.flavour == "go":  # its WebSocket is a shell on a terminal
                async with session.ws_connect("/api/pty?cols=80&rows=24") as ws:
                    await ws.send_bytes(b"echo through-the-$((6*7))-proxy; exit\n")
                    seen = b""
                    while b"through-the-42-proxy" not in seen:
                        seen += (await ws.receive(timeout=10)).data
                    return "through the proxy"
            async with session.ws_connect("/ws") as ws:
                await ws.send_str("through the proxy")
                return str((await ws.receive(timeout=10)).data)

    assert asyncio.run(talk()) == "through the proxy"


def test_mounts_from_the_profile(world: World) -> None:
    (world.rw / "from-host.txt").write_text("hello guest\n")
    (world.rw / "from-host.txt").chmod(0o644)
    assert world.api.sh("cat /workspace/rw/from-host.txt")[1] == "hello guest\n"
    assert world.api.ls("/workspace/ro") == ["readme.txt"]
    code, _, err = world.api.sh("echo x > /workspace/ro/new.txt")
    assert code != 0 and "Read-only file system" in err
    assert sorted(p.name for p in world.ro.iterdir()) == ["readme.txt"]
    code, _, err = world.api.sh("echo from-guest > /workspace/rw/guest.txt")
    assert code == 0, err
    assert (world.rw / "guest.txt").read_text() == "from-guest\n"


def test_the_guest_reaches_the_control_plane_and_nothing_else(world: World) -> None:
    stack = world.stack
    code, out, err = world.api.sh('wget -q -O- "$GROUNDFLARE_CONTROLPLANE_URL/"')
    assert code == 0 and json.loads(out)["service"] == "controlplane", err
    api_port = int(str(stack.ready["api"]).rsplit(":", 1)[1])
    worker_port = int(stack.url.rsplit(":", 1)[1])
    for port in (api_port, worker_port, 22):
        code, out, _ = world.api.sh(f"nc -w 3 10.0.2.2 {port} </dev/null && echo connected")
        assert code != 0 and "connected" not in out, port
    shim_socket = stack.data_dir / "run" / "shim.sock"
    assert world.api.sh(f"test -e {shim_socket}")[0] != 0


def test_a_killed_qemu_is_restarted_and_the_sandbox_answers_again(world: World) -> None:
    old = component_pid(world.stack.data_dir, "vm")
    os.kill(old, signal.SIGKILL)
    restarted(world.stack.data_dir, "vm", old, timeout=120)
    assert world.api.call("GET", "/health")[0] == 200
    assert type(world.api)(world.api.base, world.api.headers).sh("echo back")[1] == "back\n"


def test_sigterm_leaves_no_qemu_behind(world: World) -> None:
    stack = world.stack
    assert qemu_processes(stack.data_dir)
    assert stack.stop() == 0
    assert [e["event"] for e in stack.events()][-1] == "stopped"
    assert qemu_processes(stack.data_dir) == []
    assert not (stack.data_dir / "run" / "sandbox.json").exists()
