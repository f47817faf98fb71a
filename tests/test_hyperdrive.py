"""Hyperdrive: `[[hyperdrive]]` connects the Worker to the database of its
`localConnectionString` (or CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING>), as
wrangler dev does, through workerd's native binding."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import WORKERS, request, run_serve

WORKER = WORKERS / "hyperdrive" / "worker.js"


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(4096)
        self.request.sendall(b"db says " + data)


@pytest.fixture
def database() -> Iterator[int]:
    """A stand-in database on a loopback port that echoes what it is sent."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def config(folder: Path, connection: str | None) -> Path:
    local = f'localConnectionString = "{connection}"\n' if connection else ""
    path = folder / "wrangler.toml"
    path.write_text(
        f'name = "hyperdrive-probe"\nmain = "{WORKER}"\ncompatibility_date = "2026-11-01"\n'
        f'[[hyperdrive]]\nbinding = "DB"\nid = "0123456789abcdef"\n{local}'
    )
    return path


def test_the_binding_describes_and_reaches_the_local_database(tmp_path, tmp_data, stacks, database):
    stack = stacks([config(tmp_path, f"postgres://app:s3cret@127.0.0.1:{database}/shop")], tmp_data)
    status, body = request(stack.url)
    assert status == 200, body
    described = json.loads(body)
    assert {k: described[k] for k in ("user", "password", "database", "scheme")} == {
        "user": "app",
        "password": "s3cret",
        "database": "shop",
        "scheme": "postgres:",
    }
    assert request(stack.url + "/echo?text=SELECT%201") == (200, b"db says SELECT 1")


def test_the_environment_variable_gives_the_connection_string(tmp_path, tmp_data, stacks, database):
    env = {
        "CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB": f"postgres://u:p@127.0.0.1:{database}/x"
    }
    stack = stacks([config(tmp_path, None)], tmp_data, env=env)
    assert request(stack.url + "/echo?text=hi") == (200, b"db says hi")


def test_a_binding_without_a_local_database_is_a_config_error(tmp_path, tmp_data):
    path = config(tmp_path, None)
    result = run_serve("-c", str(path), "--data-dir", str(tmp_data))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f'groundflare: config: {path}: hyperdrive: "DB" has no local database: set its '
        '"localConnectionString", or CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB, to a '
        "connection string of a database you run locally "
        "(e.g. postgres://user:password@127.0.0.1:5432/app)"
    )
