"""The explorer's test helpers: a logged-in HTTP session against a running stack, its login
link from the real CLI (`groundflare explorer --print-url`)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, start_stack

PROBE = WORKERS / "explorer" / "wrangler.toml"
PROBE_D1 = "00000000-0000-4000-8000-00000000e201"
PROBE_KV = "00000000000040008000000000e2e202"
PROBE_R2 = "explorer-files"
# A page's CSRF token, as the page carries it for its script.
EXPLORER_COMMAND = [sys.executable, "-m", "groundflare", "explorer"]
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def login_url(stack: RunningStack) -> str:
    """A one-time login link, as `groundflare explorer --print-url` prints it."""
    done = subprocess.run(
        [*EXPLORER_COMMAND, "--print-url", "--data-dir", str(stack.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.cookies = http.cookiejar.CookieJar()

        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), Stay()
        )

    def open(
        self,
        path: str,
        body: bytes | None = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = path if path.startswith("http") else f"{self.api}{path}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with self._opener.open(request, timeout=60) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        data = urllib.parse.urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.open(path, data, "POST", headers)

    def csrf(self, path: str = "/explorer/") -> str:
        status, _, page = self.open(path)
        assert status == 200, page[:500]
        found = CSRF_META.search(page.decode())
        assert found is not None
        return found.group(1)

    def session_cookie(self) -> str:
        return next(c.value for c in self.cookies if c.name.startswith("groundflare_explorer_"))

    def json(self, path: str, payload: Any, headers: dict[str, str]) -> tuple[int, Any]:
        status, _, body = self.open(
            path,
            json.dumps(payload).encode(),
            "POST",
            {"Content-Type": "application/json", **headers},
        )
        return status, json.loads(body)


def signed_in(stack: RunningStack) -> Browser:
    browser = Browser(stack.ready["api"])
    status, headers, _ = browser.open(login_url(stack))
    assert status == 303 and headers["Location"] == "/explorer/", (status, headers)
    return browser


@contextmanager
def probe_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The explorer's probe Worker (D1, KV, R2, a Durable Object, a cron) on a fresh stack."""
    stack = start_stack([PROBE], tmp_path_factory.mktemp("explorer") / "data")
    yield stack
    assert stack.stop() == 0


@pytest.fixture(scope="module")
def explorer_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The probe's stack, shared by a module."""
    with probe_stack(tmp_path_factory) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser(explorer_stack: RunningStack) -> Browser:
    return signed_in(explorer_stack)
