"""The pytest plugin comes with an installed groundflare, no checkout: the wheel's own entry
point, package data (the door's Workers) and dependencies run docs/testing.md's tutorial."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.stack import REPO

PLUGIN_DEPENDENCIES = {"httpx", "httpx-ws"}
PIP = [sys.executable, "-m", "pip"]

WRANGLER = """
name = "hello"
main = "src/index.js"
compatibility_date = "2026-11-01"

[[kv_namespaces]]
binding = "KV"
id = "hello-kv"
"""

WORKER = """
export default {
  async fetch(request, env) {
    const key = new URL(request.url).pathname.slice(1);
    if (request.method === "PUT") {
      await env.KV.put(key, await request.text());
      console.log(`stored ${key}`);
      return new Response("stored", { status: 201 });
    }
    const value = await env.KV.get(key);
    return value === null ? new Response("not found", { status: 404 }) : new Response(value);
  },
};
"""

TESTS = """
import groundflare

def test_the_plugin_is_the_installed_one():
    assert "site-packages" in groundflare.__file__

def test_put_then_get(worker):
    assert worker.put("/greeting", content="hello").status_code == 201
    assert worker.get("/greeting").text == "hello"

def test_every_test_starts_empty(worker, groundflare):
    assert worker.get("/greeting").status_code == 404
    groundflare.kv("KV").put("greeting", "from python")
    assert worker.get("/greeting").text == "from python"
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    (found,) = out.glob("groundflare-*.whl")
    return found


def requirements(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return {
        line.split(":", 1)[1].strip().split(">")[0].split("=")[0].split(";")[0].strip()
        for line in lines
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }


def test_the_plugins_dependencies_are_groundflares_own(wheel):
    assert requirements(wheel) >= PLUGIN_DEPENDENCIES
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "groundflare = groundflare.testing.plugin" in archive.read(points).decode()
    assert "groundflare/workerd_config/assets/bindings.js" in names


def test_the_tutorial_passes_with_the_installed_wheel(wheel, tmp_path):
    """A venv holding only the wheel; the dependencies come from this environment's
    site-packages, whose .pth files (and so the checkout's editable install) stay unread."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    subprocess.run(
        [*PIP, "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        timeout=300,
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    project = tmp_path / "hello"
    (project / "src").mkdir(parents=True)
    (project / "wrangler.toml").write_text(WRANGLER)
    (project / "src" / "index.js").write_text(WORKER)
    (project / "pytest.ini").write_text("[pytest]\ngroundflare_config = wrangler.toml\n")
    (project / "test_worker.py").write_text(TESTS)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
