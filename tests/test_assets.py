"""[assets]: files served in front of the Worker, html_handling, the ASSETS binding."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.stack import WORKERS, start_stack

SITE = WORKERS / "assets" / "wrangler.toml"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    stack = start_stack([SITE], tmp_path_factory.mktemp("assets") / "data")
    yield stack
    assert stack.stop() == 0


def fetch(stack, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """No redirect following: production's 307s are part of what is checked."""
    address = urlsplit(stack.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/", b"<h1>home</h1>\n", "text/html; charset=utf-8"),
        ("/about", b"<h1>about</h1>\n", "text/html; charset=utf-8"),
        ("/docs/", b"<h1>docs</h1>\n", "text/html; charset=utf-8"),
        ("/style.css", b"body { color: teal; }\n", "text/css; charset=utf-8"),
    ],
)
def test_files_are_served_before_the_worker(site, path, body, content_type):
    status, headers, payload = fetch(site, path)
    assert (status, payload) == (200, body)
    assert headers["content-type"] == content_type
    assert headers["cache-control"] == "public, max-age=0, must-revalidate"


@pytest.mark.parametrize(
    ("path", "location"),
    [("/about.html", "/about"), ("/docs", "/docs/"), ("/docs/index.html", "/docs/")],
)
def test_auto_trailing_slash_redirects_to_the_canonical_path(site, path, location):
    status, headers, _ = fetch(site, path)
    assert status == 307
    assert headers["location"] == location


def test_head_has_the_headers_and_no_body(site):
    status, headers, payload = fetch(site, "/style.css", "HEAD")
    assert status == 200 and payload == b""
    assert headers["content-length"] == "22"


def test_everything_else_reaches_the_worker(site):
    assert json.loads(fetch(site, "/api")[2]) == {"from": "worker", "method": "GET"}
    assert fetch(site, "/nowhere")[2] == b"worker saw GET /nowhere"
    assert fetch(site, "/style.css", "POST")[2] == b"worker saw POST /style.css"


def test_the_assets_binding_serves_assets_only(site):
    status, headers, payload = fetch(site, "/via-binding")
    assert (status, payload) == (200, b"body { color: teal; }\n")
    assert headers["content-type"] == "text/css; charset=utf-8"
    assert fetch(site, "/via-binding-missing")[0] == 404
