"""The distribution (`make dist`): the wheel, installed into a fresh virtualenv outside the
checkout, serves the example; nothing it needs is found through the checkout.

The sdist and wheel are built once per session, with the command `make dist` runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import REPO, request

PACKAGE_DATA = (
    "groundflare/contracts/events.schema.json",
    "groundflare/vm/config/init",
    "groundflare/vm/sandbox/sandbox.c",
    "groundflare/vm/sandbox/build.sh",
    "groundflare/vm/image/fetch-debs.sh",
    "groundflare/workerd_config/assets/router.js",
    "groundflare/workerd_config/assets/door.js",
    "groundflare/workerd_config/assets/edge.js",
)


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def venv(dist: Path) -> Iterator[Path]:
    """A fresh virtualenv in a temporary folder outside the checkout, with the wheel."""
    folder = Path(tempfile.mkdtemp(prefix="groundflare-venv-"))
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    (wheel,) = dist.glob("*.whl")
    subprocess.run(
        [str(folder / "bin" / "pip"), "install", "--quiet", str(wheel)],
        check=True,
        cwd=folder,
        timeout=600,
    )
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=True)


def outside_env(venv: Path) -> dict[str, str]:
    """The venv first on PATH, no PYTHONPATH, no trace of the checkout's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}


def test_make_dist_builds_an_sdist_and_a_wheel_with_every_package_data_file(dist):
    assert len(list(dist.glob("groundflare-*.tar.gz"))) == 1
    (wheel,) = dist.glob("groundflare-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    tops = {name.split("/")[0] for name in names if not name.startswith("groundflare-")}
    assert tops == {"groundflare"}  # one import name: no top-level shim or vm


def test_every_file_the_package_tree_holds_ships_in_the_wheel(dist):
    """Assets a module reads next to itself (templates, Workers, scripts) are package data:
    a new one that pyproject.toml's package-data misses fails here."""
    (wheel,) = dist.glob("groundflare-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    found = {
        (Path(folder) / name).relative_to(REPO).as_posix()
        for folder, _, files in os.walk(REPO / "groundflare", followlinks=True)
        for name in files
        if "__pycache__" not in folder and not name.endswith((".pyc", ".md"))
    }
    assert found - names == set()


def test_the_installed_groundflare_is_the_venvs_not_the_checkouts(venv):
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import groundflare.shim as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        cwd=venv,
        env=outside_env(venv),
        check=True,
    ).stdout.strip()
    assert found.startswith(str(venv)) and not found.startswith(str(REPO))


def test_the_wheel_in_a_clean_venv_serves_the_example(venv, tmp_path):
    """With an empty user cache dir: workerd is fetched from the npm registry on first use,
    with progress lines on stderr."""
    example = tmp_path / "example"
    subprocess.run(["cp", "-r", str(REPO / "examples" / "controlplane"), str(example)], check=True)
    data = tmp_path / "data"
    process = subprocess.Popen(
        [
            str(venv / "bin" / "groundflare"),
            "serve",
            "-c",
            str(example / "wrangler.toml"),
            "--port",
            "0",
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=venv,
        env={**outside_env(venv), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read()[-3000:] if process.stderr else ""
        ready = json.loads(line)
        assert ready["event"] == "ready", ready
        status, body = request(f"{ready['url']}/projects", {"name": "from-a-wheel"}, "POST")
        assert status == 201, body
        status, body = request(f"{ready['url']}/sessions", {"user": "ada"}, "POST")
        assert status == 201, body
        status, body = request(f"{ready['url']}/uploads/w.bin", b"w" * 4096, "PUT")
        assert status == 201, body
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert process.stderr is not None
    assert "[tools] downloading @cloudflare/workerd-" in process.stderr.read()
    assert list((tmp_path / "cache" / "groundflare" / "tools").glob("*workerd*/npm-integrity"))
