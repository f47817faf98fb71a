"""The sidecar bundle (`groundflare bundle`, `make bundle`): a relocatable folder that serves
the example with no Python, no venv and no checkout around it, and the reference host
(examples/desktop-host/host.py) that starts it as a Tauri shell would.

The bundle is built once per test session (PyInstaller takes ~20 s) and copied, for each
test, into a fresh folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from groundflare.bundle.layout import MANIFEST, Manifest
from tests.stack import REPO, alive, eventually, request, runtime

EXAMPLE = REPO / "examples" / "controlplane"
HOST = REPO / "examples" / "desktop-host" / "host.py"
READY_TIMEOUT = 120.0


def build(out: Path, *options: str) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "groundflare", "bundle", "--out", str(out), *options],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bundle") / "groundflare")


@pytest.fixture
def elsewhere() -> Iterator[Path]:
    """A world-readable folder outside the checkout and pytest's own (the VM's QEMU runs as
    another user under root and must read the image)."""
    folder = Path(tempfile.mkdtemp(prefix="groundflare-elsewhere-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def install(bundle: Path, folder: Path) -> tuple[Path, Path]:
    """The bundle and the example copied into `folder`: (executable, wrangler.toml)."""
    installed = shutil.copytree(bundle, folder / "app", symlinks=True)
    example = shutil.copytree(EXAMPLE, folder / "example")
    return installed / "groundflare", example / "wrangler.toml"


def spawn_bare(argv: list[str], home: Path) -> subprocess.Popen[str]:
    """`env -i`: no PATH entry for Python, no venv, no PYTHON*, HOME an empty folder."""
    return subprocess.Popen(
        ["env", "-i", f"HOME={home}", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=home,
    )


def ready_line(process: subprocess.Popen[str]) -> dict:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
    assert readable, "no ready line"
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else "no output"
    return json.loads(line)


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(30)


def test_the_bundle_holds_a_manifest_with_every_file_hashed_and_the_licences(bundle):
    manifest = Manifest.model_validate_json((bundle / MANIFEST).read_bytes())
    assert manifest.components["workerd"]["integrity"].startswith("sha512-")
    assert manifest.target_triple == "x86_64-unknown-linux-gnu" or "linux" in manifest.platform
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert set(manifest.files) == files - {MANIFEST}
    assert {"groundflare", "bin/workerd", "licenses/README.md"} <= set(manifest.files)
    index = (bundle / "licenses" / "README.md").read_text()
    for shipped in ("CPython", "pydantic", "pyinstaller", "@cloudflare/workerd-"):
        assert shipped in index


def test_a_copied_bundle_serves_the_example_with_an_empty_environment(bundle, elsewhere):
    exe, config = install(bundle, elsewhere)
    home = elsewhere / "home"
    home.mkdir()
    data = elsewhere / "data"
    process = spawn_bare(
        [str(exe), "serve", "-c", str(config), "--port", "0", "--data-dir", str(data)], home
    )
    try:
        ready = ready_line(process)
        assert ready["event"] == "ready", ready
        status, body = request(f"{ready['url']}/projects", {"name": "bundled"}, "POST")
        assert status == 201, body
        status, body = request(f"{ready['url']}/uploads/a.txt", b"x" * 1000, "PUT")
        assert status == 201, body
        # The shim is the bundle's own executable, not a Python from somewhere.
        shim = runtime(data)["components"]["shim"]["pid"]
        assert Path(f"/proc/{shim}/exe").resolve() == exe.resolve()
    finally:
        assert stop(process) == 0


def test_the_bundle_runs_from_a_read_only_folder_as_another_user(bundle, elsewhere):
    """Its install folder is never written to: everything goes to the data dir. Run as
    `nobody`, for whom the copied bundle is read-only (root would ignore the mode)."""
    exe, config = install(bundle, elsewhere)
    subprocess.run(["chmod", "-R", "a-w", str(elsewhere / "app")], check=True)
    home = elsewhere / "home"
    home.mkdir()
    shutil.chown(home, "nobody", "nogroup")
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    argv += [str(exe), "serve", "-c", str(config), "--port", "0", "--data-dir", str(home / "data")]
    process = spawn_bare(argv, home)
    try:
        ready = ready_line(process)
        assert request(f"{ready['url']}/flags")[0] == 200
    finally:
        assert stop(process) == 0
    subprocess.run(["chmod", "-R", "u+w", str(elsewhere / "app")], check=True)


def test_a_bundle_embeds_the_apps_worker_bundle_and_serves_it_without_c(
    tmp_path_factory, elsewhere
):
    """`--worker-bundle` ships the app's built Worker (here the example's own source, which
    needs no bundling) with its config; the bundle's serve then needs no -c."""
    out = build(
        tmp_path_factory.mktemp("embedded") / "groundflare",
        "-c",
        str(EXAMPLE / "wrangler.toml"),
        "--worker-bundle",
        str(EXAMPLE / "src" / "index.js"),
    )
    exe = shutil.copytree(out, elsewhere / "app", symlinks=True) / "groundflare"
    home = elsewhere / "home"
    home.mkdir()
    process = spawn_bare([str(exe), "serve", "--port", "0", "--data-dir", str(home / "d")], home)
    try:
        ready = ready_line(process)
        assert list(ready.get("workers", [])) == ["controlplane"], ready
        assert request(f"{ready['url']}/flags")[0] == 200
    finally:
        assert stop(process) == 0


def pids_of_stack(data_dir: Path) -> list[int]:
    state = runtime(data_dir)
    return [state["pid"], *(c["pid"] for c in state["components"].values() if c["pid"])]


def test_the_reference_host_killed_by_sigkill_takes_the_sidecar_and_every_child_with_it(
    bundle, elsewhere
):
    """Only stdin's EOF tells the sidecar: its children run without PR_SET_PDEATHSIG here,
    and nothing signals the sidecar itself (the host is SIGKILLed)."""
    exe, config = install(bundle, elsewhere)
    data = elsewhere / "data"
    host = subprocess.Popen(
        [
            sys.executable,
            str(HOST),
            str(exe),
            "--",
            "-c",
            str(config),
            "--port",
            "0",
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "GROUNDFLARE_TEST_NO_PDEATHSIG": "1"},
    )
    try:
        assert host.stdout is not None
        readable, _, _ = select.select([host.stdout], [], [], READY_TIMEOUT)
        assert readable, "the host reported nothing"
        report = json.loads(host.stdout.readline())
        assert report["host"] == "ready" and report["connected"] is True, report
        pids = pids_of_stack(data)
        assert report["sidecar_pid"] == pids[0] and len(pids) == 3  # sidecar, shim, workerd
        host.kill()
        host.wait()
        eventually(lambda: not any(alive(pid) for pid in pids), what="all gone")
    finally:
        if host.poll() is None:
            host.kill()


def test_the_reference_host_stops_the_sidecar_cleanly_when_it_exits(bundle, elsewhere):
    exe, config = install(bundle, elsewhere)
    data = elsewhere / "data"
    host = subprocess.run(
        [
            sys.executable,
            str(HOST),
            str(exe),
            "--run-seconds",
            "1",
            "--",
            "-c",
            str(config),
            "--port",
            "0",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT,
    )
    reports = [json.loads(line) for line in host.stdout.splitlines()]
    assert [r["host"] for r in reports] == ["ready", "stopped-sidecar"], host.stderr[-2000:]
    assert reports[-1]["code"] == 0
    assert not (data / "run" / "runtime.json").exists()  # removed on a clean stop


@pytest.mark.slow
def test_a_bundle_with_the_vm_boots_it_with_an_empty_environment(tmp_path_factory, elsewhere):
    out = build(tmp_path_factory.mktemp("with-vm") / "groundflare", "--with-vm")
    manifest = Manifest.model_validate_json((out / MANIFEST).read_bytes())
    assert "vm" in manifest.components and "vm/vmlinux" in manifest.files
    assert "linux-image" in (out / "licenses" / "README.md").read_text()
    exe, config = install(out, elsewhere)
    home = elsewhere / "home"
    home.mkdir()
    data = elsewhere / "data"
    argv = [str(exe), "serve", "-c", str(config), "--port", "0", "--data-dir", str(data), "--vm"]
    process = spawn_bare(argv, home)
    try:
        ready = ready_line(process)
        assert ready["event"] == "ready" and ready["sandbox"], ready
        status, body = request(
            f"{ready['sandbox']}/health", headers={"X-Groundflare-Surface": ready["surface_token"]}
        )
        assert status == 200, body
        assert runtime(data)["components"]["vm"]["state"] == "running"
    finally:
        assert stop(process) == 0
