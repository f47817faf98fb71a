"""Shared by the VM tests: one image per test run (cached on disk too), booting helpers.

The image and its snapshots live in the user cache dir (groundflare.vm.default_cache), so a
second `make test` reuses them; a fresh machine builds the image once (about 20 s, apt
downloads included) and its first boot saves the snapshot later boots restore.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundflare.profile import Mount, VmResources
from groundflare.vm import Image, Network, build_image, default_cache, free_loopback_port
from groundflare.vm.go_sandbox import build_go_sandbox
from groundflare.vm.qemu import QemuBackend
from groundflare.vm.reference_sandbox import build_reference_sandbox
from groundflare.vm.resources import DEFAULT_PACKAGES, REFERENCE_HEADER
from groundflare.vm.runner import VmProcess
from tests.stack import request

TOKEN_HEADER = REFERENCE_HEADER
BOOT_TIMEOUT = 60.0


def quiet(message: str) -> None:
    """Build progress, kept out of the test output."""


@functools.cache
def reference_sandbox() -> Path:
    return build_reference_sandbox(default_cache())


@functools.cache
def go_sandbox() -> Path:
    return build_go_sandbox(default_cache())


@functools.cache
def dev_tools_image() -> Image:
    """The dev-tools image (the default packages) with the Go sandbox; the first build on a
    machine takes a minute or two (apt downloads included), later ones come from the cache."""
    return build_image(
        go_sandbox(), default_cache(), progress=quiet, packages=list(DEFAULT_PACKAGES)
    )


@functools.cache
def vm_image() -> Image:
    return build_image(reference_sandbox(), default_cache(), progress=quiet)


def shared_dir(prefix: str, writable_by_vm: bool, backend: QemuBackend) -> Path:
    """A folder QEMU's user can open: under /tmp (pytest's tmp dirs are 0700 root's)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    user = backend.run_as()
    if writable_by_vm and user is not None:
        os.chown(folder, user.uid, user.gid)
    return folder


@dataclass
class Booted:
    vm: VmProcess
    port: int
    token: str
    run_dir: Path
    seconds: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        return http(self.url + path, token=self.token if token is None else token)

    def exec(self, *argv: str, timeout_ms: int = 20000) -> list[dict[str, object]]:
        """Run a command in the guest; its NDJSON events."""
        body = json.dumps({"argv": list(argv), "timeout_ms": timeout_ms}).encode()
        status, data = http(self.url + "/exec", token=self.token, body=body)
        assert status == 200, data
        return [json.loads(line) for line in data.splitlines()]

    def sh(self, script: str) -> tuple[int, str, str]:
        """`sh -c script` in the guest: exit code, stdout, stderr."""
        events = self.exec("sh", "-c", script)
        out = "".join(str(e["data"]) for e in events if e.get("stream") == "stdout")
        err = "".join(str(e["data"]) for e in events if e.get("stream") == "stderr")
        (code,) = [int(e["exit"]) for e in events if "exit" in e]  # type: ignore[call-overload]
        return code, out, err

    def console(self) -> str:
        return self.vm.console_log.read_text(encoding="utf-8", errors="replace")


def http(url: str, token: str | None, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if token:
        request.add_header(TOKEN_HEADER, token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@contextmanager
def booted_vm(
    run_root: Path,
    mounts: list[Mount] | None = None,
    controlplane_url: str = "http://127.0.0.1:9",
    backend: QemuBackend | None = None,
    resources: VmResources | None = None,
    image: Image | None = None,
    snapshot: bool = True,
) -> Iterator[Booted]:
    """Boot the test image (restored from its snapshot unless `snapshot` is off); always
    stopped afterwards, pass or fail."""
    backend = backend or QemuBackend()
    port = free_loopback_port()
    token = secrets.token_urlsafe(32)
    run_dir = run_root / "vm"
    launch = backend.command(
        image or vm_image(),
        resources or VmResources(cpus=1, memory_mib=512),
        mounts or [],
        Network(sandbox_host_port=port, controlplane_url=controlplane_url),
        run_dir,
        token,
        state_dir=run_root / "state",
        snapshots=default_cache() / "snapshots" if snapshot else None,
    )
    vm = VmProcess.start(backend, launch, run_root / "qemu.log")
    try:
        seconds = vm.ready(BOOT_TIMEOUT)
        yield Booted(vm, port, token, run_dir, seconds)
    except BaseException:
        console = vm.console_log
        if console.exists():
            print("guest console:\n" + console.read_text(errors="replace"))
        log = run_root / "qemu.log"
        if log.exists():
            print("qemu output:\n" + log.read_text(errors="replace"))
        raise
    finally:
        vm.stop()


def group_alive(pgid: int) -> bool:
    """Whether any process is left in a process group (QEMU's, with its socat children)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pgid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class SandboxApi:
    """One sandbox's HTTP surface, at `base` with `headers`: directly with its credential,
    or through the proxy with the surface token. Each flavour speaks its sandbox's API."""

    base: str
    headers: dict[str, str]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        return request(self.base + path, body, method, self.headers)

    def sh(self, script: str) -> tuple[int, str, str]:
        """`sh -c script` in the guest: exit code, stdout, stderr."""
        raise NotImplementedError

    def ls(self, path: str) -> list[str]:
        raise NotImplementedError


class ReferenceApi(SandboxApi):
    """vm/sandbox/sandbox.c: POST /exec streams NDJSON, GET /files lists a folder."""

    def sh(self, script: str) -> tuple[int, str, str]:
        body = {"argv": ["sh", "-c", script], "timeout_ms": 20000}
        status, data = self.call("POST", "/exec", body)
        assert status == 200, data
        events = [json.loads(line) for line in data.splitlines()]
        out = "".join(str(e["data"]) for e in events if e.get("stream") == "stdout")
        err = "".join(str(e["data"]) for e in events if e.get("stream") == "stderr")
        (code,) = [int(e["exit"]) for e in events if "exit" in e]
        return code, out, err

    def ls(self, path: str) -> list[str]:
        status, data = self.call("GET", f"/files?path={path}")
        assert status == 200, data
        return [e["name"] for e in json.loads(data)["entries"]]


class GoApi(SandboxApi):
    """vm/gosandbox: a session, then POST /api/sessions/{id}/exec streams server-sent events."""

    _session: str | None = None

    def session(self) -> str:
        if self._session is None:
            status, data = self.call("POST", "/api/sessions", {"cwd": "/workspace"})
            assert status == 201, data
            self._session = str(json.loads(data)["id"])
        return self._session

    def sh(self, script: str) -> tuple[int, str, str]:
        body = {"command": script, "timeout_ms": 20000}
        status, data = self.call("POST", f"/api/sessions/{self.session()}/exec", body)
        assert status == 200, data
        streams: dict[str, str] = {"stdout": "", "stderr": ""}
        code = None
        for event in sse_events(data):
            if event[0] == "exit":
                code = int(event[1]["code"])
            else:
                streams[event[0]] += event[1]["data"]
        assert code is not None, data
        return code, streams["stdout"], streams["stderr"]

    def ls(self, path: str) -> list[str]:
        status, data = self.call("GET", f"/api/files/list?path={path}")
        assert status == 200, data
        return [e["name"] for e in json.loads(data)["entries"]]


def sse_events(data: bytes) -> list[tuple[str, Any]]:
    """(event, decoded JSON data) of each server-sent event in a whole response body."""
    found = []
    for block in data.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found
