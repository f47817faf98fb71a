"""Outbound network: Workers reach public, private and loopback addresses (as Miniflare),
`--outbound` and the profile narrow it, and a refused or failed connection reaches the
Worker as production's fetch error while the log names the address and the rule."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.stack import REPO, RunningStack, eventually, request

PROJECT = REPO / "tests" / "projects" / "outbound" / "wrangler.toml"
# Addresses workerd's network rules call "private" (RFC 1918, CGNAT, unique-local IPv6).
PRIVATE_NETWORKS = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
]


class Service(BaseHTTPRequestHandler):
    """A local service a Worker talks to: /hello answers, /redirect sends there."""

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", "/hello")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = f"hello from {self.server.server_address[0]}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    def __init__(self, host: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), Service)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serving(host: str) -> Iterator[Server]:
    server = Server(host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def loopback() -> Iterator[Server]:
    yield from serving("127.0.0.1")


def private_address() -> str | None:
    """A private, non-loopback address of this machine, if it has one."""
    ip = shutil.which("ip")
    if ip is None:
        return None
    out = subprocess.run([ip, "-o", "addr", "show"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        address = ipaddress.ip_interface(parts[3]).ip
        if any(address in network for network in PRIVATE_NETWORKS):
            return str(address)
    return None


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_fetch(stack: RunningStack, target: str, redirect: str = "follow") -> dict:
    status, body = request(f"{stack.url}/?url={quote(target, safe='')}&redirect={redirect}")
    assert status == 200, body
    return json.loads(body)


def worker_connect(stack: RunningStack, address: str) -> dict:
    status, body = request(f"{stack.url}/connect?address={quote(address, safe='')}")
    assert status == 200, body
    return json.loads(body)


def logged(stack: RunningStack, text: str) -> bool:
    return text in stack.stderr()


LOST = {"error": {"name": "Error", "message": "Network connection lost."}}


def test_by_default_a_worker_reaches_loopback_by_address_and_by_name(loopback, tmp_data, stacks):
    stack = stacks([PROJECT], tmp_data)
    port = loopback.server_address[1]
    assert worker_fetch(stack, f"{loopback.url}/hello")["body"] == "hello from 127.0.0.1"
    assert worker_fetch(stack, f"http://localhost:{port}/hello")["status"] == 200
    assert worker_connect(stack, f"127.0.0.1:{port}") == {
        "status": 200,
        "body": "hello from 127.0.0.1",
    }


def test_redirects_are_followed_by_the_worker_or_handed_back_when_manual(
    loopback, tmp_data, stacks
):
    stack = stacks([PROJECT], tmp_data)
    followed = worker_fetch(stack, f"{loopback.url}/redirect")
    assert (followed["status"], followed["body"]) == (200, "hello from 127.0.0.1")
    manual = worker_fetch(stack, f"{loopback.url}/redirect", redirect="manual")
    assert (manual["status"], manual["location"]) == (302, "/hello")


def test_a_connection_nothing_accepts_is_productions_network_error(tmp_data, stacks):
    stack = stacks([PROJECT], tmp_data)
    port = closed_port()
    assert worker_fetch(stack, f"http://127.0.0.1:{port}/") == LOST
    eventually(
        lambda: logged(stack, f"fetch to 127.0.0.1:{port} failed: Network connection lost."),
        what="the failed address in the log",
    )


def test_a_name_that_does_not_resolve_gets_productions_530(tmp_data, stacks):
    stack = stacks([PROJECT], tmp_data)
    answer = worker_fetch(stack, "http://no-such-host.invalid/")
    assert (answer["status"], answer["body"]) == (530, "error code: 1016")
    eventually(
        lambda: logged(stack, "fetch to no-such-host.invalid:80 failed: no-such-host.invalid"),
        what="the unresolved name in the log",
    )


def test_outbound_public_refuses_loopback_with_productions_error_and_logs_the_rule(
    loopback, tmp_data, stacks
):
    stack = stacks([PROJECT], tmp_data, extra=["--outbound", "public"])
    port = loopback.server_address[1]
    assert worker_fetch(stack, f"{loopback.url}/hello") == LOST
    eventually(
        lambda: logged(
            stack,
            f"fetch to 127.0.0.1:{port} refused: --outbound public allows public addresses only",
        ),
        what="the refused address and the rule in the log",
    )
    # connect() is refused by workerd itself, with production's text (prefixed by workerd).
    refused = worker_connect(stack, f"127.0.0.1:{port}")["error"]["message"]
    assert refused.endswith("proxy request failed, cannot connect to the specified address")


def test_outbound_private_refuses_loopback(loopback, tmp_data, stacks):
    stack = stacks([PROJECT], tmp_data, extra=["--outbound", "private"])
    assert worker_fetch(stack, f"{loopback.url}/hello") == LOST
    eventually(
        lambda: logged(stack, "refused: --outbound private allows public and private-network"),
        what="the rule in the log",
    )


def test_outbound_private_reaches_private_addresses(tmp_data, stacks):
    address = private_address()
    if address is None:
        pytest.skip("this machine has no private (RFC 1918 / unique-local) address")
    for server in serving(address):
        stack = stacks([PROJECT], tmp_data, extra=["--outbound", "private"])
        assert worker_fetch(stack, f"{server.url}/hello")["body"] == f"hello from {address}"


def test_the_profile_sets_the_rule_and_the_option_overrides_it(loopback, tmp_path, stacks):
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "groundflare", "profile", "init", "--data-dir", str(data)],
        check=True,
        capture_output=True,
    )
    profile = data / "profile.json"
    profile.write_text(json.dumps({**json.loads(profile.read_text()), "outbound": "public"}))
    stack = stacks([PROJECT], data)
    assert worker_fetch(stack, f"{loopback.url}/hello") == LOST
    stack.stop()
    stack = stacks([PROJECT], data, extra=["--outbound", "all"])
    assert worker_fetch(stack, f"{loopback.url}/hello")["status"] == 200


def test_the_rendered_config_names_the_rule(tmp_path: Path):
    from click.testing import CliRunner

    from groundflare.cli import main

    result = CliRunner().invoke(
        main, ["config", "render", "-c", str(PROJECT), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    rendered = " ".join(result.output.split())
    assert 'allow = [ "public", "private", "240.0.0.0/4", ], deny = [],' in rendered
    assert 'globalOutbound = "groundflare-outbound"' in rendered
