"""Native tools come from an npm registry, checked against its integrity, once per cache.

The registry here is a local HTTP server holding one made-up package version, so the tests
never touch the network or the real workerd in the cache."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from groundflare.native_tools import NativeTool, ToolNotFound, fetch

TOOL = NativeTool("workerd", "0.0.0-test", "GROUNDFLARE_TEST_TOOL")
BINARY = b"#!/bin/sh\necho workerd 2099-01-01\n"


def package_tarball() -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        entry = tarfile.TarInfo("package/bin/workerd")
        entry.size = len(BINARY)
        entry.mode = 0o644
        tar.addfile(entry, io.BytesIO(BINARY))
    return data.getvalue()


@dataclass
class Registry:
    url: str
    tarball: bytes
    integrity: str
    downloads: list[str] = field(default_factory=list)


@pytest.fixture
def registry() -> Iterator[Registry]:
    tarball = package_tarball()
    state = Registry(
        "", tarball, "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.endswith(".tgz"):
                state.downloads.append(self.path)
                time.sleep(0.5)  # long enough for a second process to arrive mid-download
                body = state.tarball
            else:
                meta = {
                    "license": "Apache-2.0",
                    "dist": {"tarball": f"{state.url}/package.tgz", "integrity": state.integrity},
                }
                body = json.dumps(meta).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


FETCH_IN_A_PROCESS = f"""
import sys
from pathlib import Path
from groundflare.native_tools import NativeTool, fetch
tool = NativeTool({TOOL.name!r}, {TOOL.version!r}, {TOOL.env_override!r})
print(fetch(tool, Path(sys.argv[1]), progress=lambda message: None))
"""


def test_two_processes_filling_one_cache_download_once_and_both_get_the_binary(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROUNDFLARE_NPM_REGISTRY", registry.url)
    cache = tmp_path / "tools"
    fetchers = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH_IN_A_PROCESS, str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [fetcher.communicate(timeout=60) for fetcher in fetchers]
    assert [fetcher.returncode for fetcher in fetchers] == [0, 0], results
    paths = {Path(out.strip()) for out, _ in results}
    assert paths == {TOOL.installed_path(cache)}
    assert TOOL.installed_path(cache).read_bytes() == BINARY
    assert len(registry.downloads) == 1


def test_a_tarball_that_does_not_match_the_registry_integrity_is_not_installed(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROUNDFLARE_NPM_REGISTRY", registry.url)
    registry.tarball = registry.tarball + b"\0"
    cache = tmp_path / "tools"
    with pytest.raises(ToolNotFound, match="does not match the registry's sha512 integrity"):
        fetch(TOOL, cache, progress=lambda message: None)
    assert not TOOL.installed(cache)
