"""A sandbox VM people can work in, under `groundflare serve`: the dev-tools image (Debian's
git, Python, Node.js and a C compiler on a read-only root with a per-profile writable disk),
the Go sandbox run from its profile contract, a control-plane Worker driving it through the
bindings the profile names, the profile's limits, and `groundflare vm shell`."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from groundflare.contracts.sandbox import SandboxAddress
from groundflare.profile import Installation
from groundflare.proxy import SURFACE_HEADER
from groundflare.vm.go_sandbox import go_contract
from groundflare.vm.resources import VmResources, WorkerBindings, Writable
from tests.stack import WORKERS, RunningStack, request, start_stack
from tests.vm_support import GoApi, dev_tools_image, go_sandbox, sse_events

pytestmark = pytest.mark.slow
WORKER = WORKERS / "sandbox-client" / "wrangler.toml"
CPUS = 2
MEMORY_MIB = 640
DISK_MIB = 192


@dataclass
class World:
    stack: RunningStack
    api: GoApi  # through the proxy, as the frontend

    @property
    def address(self) -> SandboxAddress:
        return SandboxAddress.model_validate_json(
            (self.stack.data_dir / "run" / "sandbox.json").read_text()
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    dev_tools_image()  # built once per machine (a minute or two), then from the cache
    data_dir = tmp_path_factory.mktemp("devtools") / "data"
    install = Installation(data_dir)
    data_dir.mkdir(parents=True)
    vm = VmResources(
        enabled=True,
        cpus=CPUS,
        memory_mib=MEMORY_MIB,
        image="dev-tools",
        writable=Writable(kind="disk", size_mib=DISK_MIB),
        sandbox=go_contract(go_sandbox()),
        bindings=WorkerBindings(url="SANDBOX_URL", token="SANDBOX_INTERNAL_TOKEN"),
    )
    install.save(install.create().model_copy(update={"vm": vm}))
    stack = start_stack([WORKER], data_dir)
    headers = {SURFACE_HEADER: str(stack.ready["surface_token"])}
    yield World(stack, GoApi(str(stack.ready["sandbox"]), headers))
    stack.stop()


def test_git_python_node_and_a_c_compiler_run_in_the_sandbox(world: World) -> None:
    code, out, err = world.api.sh("git --version")
    assert code == 0 and out.startswith("git version 2."), err
    assert world.api.sh("python3 -c 'import sys; print(6 * 7, sys.version_info[0])'")[1] == "42 3\n"
    assert world.api.sh("node -e 'console.log(6 * 7, typeof fetch)'")[1] == "42 function\n"
    program = "int main(void) { return 6 * 7; }"
    code, out, err = world.api.sh(
        f"printf '{program}' > /tmp/c.c && cc -O2 -o /tmp/c /tmp/c.c && /tmp/c; echo $?"
    )
    assert (code, out) == (0, "42\n"), err


def test_a_worker_runs_a_command_in_the_sandbox_through_its_bindings(world: World) -> None:
    """The Worker gets SANDBOX_URL and SANDBOX_INTERNAL_TOKEN, creates a session, runs a
    command whose output reaches the client as it comes, and reads the file it wrote."""
    status, body = request(world.stack.url + "/binding")
    binding = json.loads(body)
    assert status == 200 and binding == {"url": world.address.url, "token": 43}
    gate = "/workspace/.go"
    command = (
        f"echo first; while [ ! -e {gate} ]; do sleep 0.05; done; "
        "echo written-by-the-worker > /workspace/result.txt; echo second"
    )
    run = urllib.request.Request(
        world.stack.url + "/run",
        data=json.dumps({"command": command}).encode(),
        headers={"content-type": "application/json"},
    )
    seen: list[tuple[str, object]] = []
    with urllib.request.urlopen(run, timeout=60) as response:
        assert response.headers["content-type"] == "text/event-stream"
        block = b""
        for line in response:
            block += line
            if line != b"\n":
                continue
            seen += sse_events(block)
            block = b""
            # The second line needs the gate, which exists only once the first one arrived.
            if seen[-1] == ("stdout", {"data": "first\n"}):
                assert world.api.sh(f"touch {gate}")[0] == 0
    assert seen == [
        ("stdout", {"data": "first\n"}),
        ("stdout", {"data": "second\n"}),
        ("exit", {"code": 0}),
    ]
    status, body = request(world.stack.url + "/file?path=/workspace/result.txt")
    assert (status, body) == (200, b"written-by-the-worker\n")


def test_the_worker_reaches_the_sandbox_only_with_the_token(world: World) -> None:
    assert request(world.address.url + "/health")[0] == 401
    assert (
        request(world.address.url + "/health", headers=dict([world.address.credential()]))[0] == 200
    )


def test_the_profile_cpus_and_memory_are_what_the_guest_has(world: World) -> None:
    assert world.api.sh("nproc")[1] == f"{CPUS}\n"
    total_kib = int(world.api.sh("sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo")[1])
    assert MEMORY_MIB - 96 < total_kib // 1024 <= MEMORY_MIB
    # More than the guest has is refused inside the guest; the host's memory is not touched.
    _, out, _ = world.api.sh(f"python3 -c 'bytearray({2 * MEMORY_MIB} << 20)' 2>&1 | tail -n 1")
    assert "MemoryError" in out


def test_the_writable_layer_is_bounded_and_full_is_a_clear_error(world: World) -> None:
    code, _, err = world.api.sh(f"dd if=/dev/zero of=/workspace/big bs=1M count={DISK_MIB + 64}")
    assert code != 0 and "No space left on device" in err
    disk = world.stack.data_dir / "vm" / "writable.img"
    assert disk.stat().st_blocks * 512 <= DISK_MIB << 20
    assert world.api.sh("rm /workspace/big && echo freed")[1] == "freed\n"
    assert world.api.sh("echo again > /workspace/again.txt && cat /workspace/again.txt")[1] == (
        "again\n"
    )


def test_vm_shell_opens_a_shell_in_the_sandbox(world: World) -> None:
    """A person's shell: through the sandbox's WebSocket terminal with the run's token."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "groundflare",
            "vm",
            "shell",
            "--data-dir",
            str(world.stack.data_dir),
        ],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    os.write(main, b"echo in-the-$((6*7))-guest $(id -u) $(cat /proc/1/comm); exit\n")
    seen = b""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        readable, _, _ = select.select([main], [], [], 0.2)
        if readable:
            try:
                seen += os.read(main, 65536)
            except OSError:
                break
    assert process.wait(timeout=10) == 0, seen
    os.close(main)
    text = seen.decode(errors="replace")
    assert "in-the-42-guest" in text, text
    (line,) = [line for line in text.splitlines() if line.startswith("in-the-42-guest")]
    _, uid, init = line.split()
    assert uid != "0" and init == "busybox"  # the sandbox's user, in the guest (PID 1 is ours)


def test_the_guest_console_goes_to_its_log(world: World) -> None:
    console = (world.stack.data_dir / "logs" / "vm-console.log").read_text()
    assert "groundflare-init: keyed at" in console
    assert "gosandbox: listening on :4000" in console
