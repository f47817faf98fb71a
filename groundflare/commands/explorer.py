"""`groundflare explorer`: open the explorer of a running stack, or of a stopped data dir.

The shim mints a one-time login ticket on its unix socket (reached only by this user, in
the 0700 `run/` folder); the link `<api>/explorer/login?ticket=...` works once, within two
minutes, and sets the browser's session cookie (docs/explorer.md).

With no stack running on the data dir, the command serves the data itself: a shim over the
data dir's resources and its REST listener, under the data dir's lock, until Ctrl-C.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import webbrowser
from pathlib import Path

import click
from pydantic import ValidationError

from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.contracts.layout import DataDir
from groundflare.contracts.secrets_pipe import secrets_pipe
from groundflare.contracts.shim_config import ShimConfig, ShimSecrets
from groundflare.lock import DataDirBusy, DataDirLock
from groundflare.paths import write_private
from groundflare.profile import Installation, ProfileError
from groundflare.runtime import Runtime
from groundflare.secret_store import SecretStoreError
from groundflare.sockets import listen_loopback, url
from groundflare.stack.processes import base_env, python_module

TICKET_PATH = "/_groundflare/explorer/ticket"
STANDALONE_CONFIG = "explorer-shim.json"
READY_SECONDS = 30.0


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("shim", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self._path))


def login_url(layout: DataDir, api: str) -> str:
    """A fresh one-time login link from the shim serving `layout`."""
    conn = _Unix(layout.shim_socket)
    try:
        conn.request("POST", TICKET_PATH)
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise OSError(f"the shim refused a login ticket ({answer.status}): {body[:200]!r}")
    return f"{api}/explorer/login?ticket={json.loads(body)['ticket']}"


def running_api(layout: DataDir) -> str | None:
    """The running stack's REST listener, if a stack runs on `layout`."""
    try:
        runtime = Runtime.model_validate_json(layout.runtime_json.read_bytes())
    except (OSError, ValidationError):
        return None
    if Path("/proc").is_dir() and not Path(f"/proc/{runtime.pid}").exists():
        return None
    return runtime.endpoints.get("api")


def show(url: str, print_url: bool) -> None:
    click.echo(url)
    if not print_url:
        webbrowser.open(url)


@click.command()
@click.option("--print-url", is_flag=True, help="Print the one-time login URL; open no browser.")
@DATA_DIR_OPTION
def explorer(print_url: bool, data_dir: Path | None) -> None:
    """Open the explorer (data and request log) of the stack on the data dir in a browser.

    A stopped data dir is served until Ctrl-C."""
    layout = DataDir(root=data_root(data_dir))
    api = running_api(layout)
    if api is not None:
        try:
            show(login_url(layout, api), print_url)
        except (OSError, KeyError, ValueError) as exc:
            fail("explorer", f"the stack on {layout.root} does not answer: {exc}")
        return
    if not layout.root.is_dir():
        fail("explorer", f"{layout.root} holds no stack's data (no such folder)")
    serve_stopped(layout, print_url)


def serve_stopped(layout: DataDir, print_url: bool) -> None:
    """The shim and its REST listener over a stopped data dir, until interrupted."""
    lock = DataDirLock(layout.run / "supervisor.lock")
    try:
        layout.prepare()
        lock.acquire()
    except (DataDirBusy, OSError, ValueError) as exc:
        fail("explorer", str(exc))
    try:
        install = Installation(layout.root)
        profile = install.load_or_create()
        api_token = install.secrets(profile)["api_token"]
    except (ProfileError, SecretStoreError) as exc:
        lock.release()
        fail("explorer", str(exc))
    try:
        _serve(layout, api_token, profile.ports.api, print_url)
    finally:
        lock.release()


def standalone_config(layout: DataDir) -> ShimConfig:
    """What the last stack served (its resources, its request log), with no Worker to call."""
    try:
        last = ShimConfig.model_validate_json(layout.shim_config.read_bytes())
    except (OSError, ValidationError):
        last = ShimConfig(socket=layout.shim_socket, data_dir=layout.root)
    return last.model_copy(
        update={"crons": [], "queue_consumers": [], "door_socket": None, "test_clock": False}
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(layout: DataDir, api_token: str, port: int, print_url: bool) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    config_path = layout.run / STANDALONE_CONFIG
    write_private(config_path, standalone_config(layout).model_dump_json().encode())
    listener = listen_loopback(port, "explorer")
    control_read, control_write = os.pipe()
    secrets = ShimSecrets(token=os.urandom(16).hex(), api_token=api_token, door_token="")
    secrets_fd = secrets_pipe(secrets.model_dump())
    argv = [
        *python_module("groundflare.shim"),
        "--config",
        str(config_path),
        "--control-fd",
        str(control_write),
        "--api-fd",
        str(listener.fileno()),
        "--secrets-fd",
        str(secrets_fd),
    ]
    child = subprocess.Popen(
        argv, env=base_env(), pass_fds=(control_write, listener.fileno(), secrets_fd)
    )
    os.close(control_write)
    os.close(secrets_fd)
    try:
        with os.fdopen(control_read, "rb") as control:
            line = control.readline()
        if b'"listen"' not in line:
            fail("explorer", f"the shim did not start on {layout.root}: {line.decode().strip()}")
        show(login_url(layout, url(listener)), print_url)
        click.echo("Serving the stopped data dir; Ctrl-C stops.", err=True)
        sys.stdout.flush()
        child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            child.wait(15)
        listener.close()
        config_path.unlink(missing_ok=True)
