"""Who can use the explorer: only a browser that opened a one-time login link, on loopback,
with a CSRF token on every write; no page or script ever holds the API token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.explorer import (
    PROBE_KV,
    Browser,
    browser,
    explorer_stack,
    login_url,
    signed_in,
)
from tests.stack import RunningStack

__all__ = ["browser", "explorer_stack"]

PAGES = [
    "/explorer/",
    "/explorer/d1",
    f"/explorer/d1/{'00000000-0000-4000-8000-00000000e201'}",
    "/explorer/kv",
    f"/explorer/kv/{PROBE_KV}",
    "/explorer/r2",
    "/explorer/r2/explorer-files",
    "/explorer/do",
    "/explorer/cron",
    "/explorer/log",
    "/explorer/log/sql",
    "/explorer/api",
    "/explorer/openapi.json",
]
V4_NAMESPACES = "/client/v4/accounts/local/storage/kv/namespaces"


def api_token(stack: RunningStack) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "groundflare", "env", "--json", "--data-dir", str(stack.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)["CLOUDFLARE_API_TOKEN"]


def test_nothing_is_shown_without_a_login(explorer_stack: RunningStack) -> None:
    stranger = Browser(explorer_stack.ready["api"])
    for path in PAGES:
        status, _, page = stranger.open(path)
        assert status == 401, path
        assert b"groundflare explorer --print-url" in page
        assert PROBE_KV.encode() not in page
    status, _, body = stranger.open(V4_NAMESPACES)
    assert status == 401 and json.loads(body)["errors"][0]["code"] == 10000
    forged = {
        "Cookie": f"groundflare_explorer_{explorer_stack.ready['api'].rsplit(':', 1)[1]}=1.x.y"
    }
    status, _, _ = stranger.open(V4_NAMESPACES, headers=forged)
    assert status == 401
    status, _, _ = stranger.open("/explorer/", headers=forged)
    assert status == 401


def test_a_login_link_works_once(explorer_stack: RunningStack) -> None:
    link = login_url(explorer_stack)
    first = Browser(explorer_stack.ready["api"])
    status, headers, _ = first.open(link)
    assert status == 303 and headers["Location"] == "/explorer/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert first.open("/explorer/")[0] == 200
    second = Browser(explorer_stack.ready["api"])
    status, headers, page = second.open(link)
    assert status == 401 and "Set-Cookie" not in headers
    assert b"used already, or it expired" in page
    assert second.open("/explorer/")[0] == 401


def test_no_page_or_script_holds_the_api_token_or_the_session(
    explorer_stack: RunningStack, browser: Browser
) -> None:
    token = api_token(explorer_stack).encode()
    session = browser.session_cookie().encode()
    assets = ["/explorer/static/explorer.js", "/explorer/static/explorer.css"]
    for path in PAGES + assets:
        status, headers, body = browser.open(path)
        assert status == 200, path
        assert token not in body, path
        assert session not in body, path
        assert "Set-Cookie" not in headers
    assert browser.open("/explorer/static/../app.py")[0] == 404


def test_writes_without_the_csrf_token_are_refused(
    explorer_stack: RunningStack, browser: Browser
) -> None:
    put = f"/explorer/kv/{PROBE_KV}/put"
    fields = {"key": "csrf-probe", "value": "written"}
    assert browser.form(put, fields)[0] == 403
    assert browser.form(put, {**fields, "csrf": "not-the-token"})[0] == 403
    # A page of another origin posting with the browser's cookie.
    token = browser.csrf()
    foreign = {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
    body = f"key=csrf-probe&value=written&csrf={token}".encode()
    assert browser.open(put, body, "POST", foreign)[0] == 403
    value = f"{V4_NAMESPACES}/{PROBE_KV}/values/csrf-probe"
    assert browser.open(value)[0] == 404
    # The v4 API with the session: reads need no token, writes need it in X-CSRF-Token.
    assert browser.open(value, b"x", "PUT")[0] == 403
    assert browser.open(value)[0] == 404
    assert browser.open(value, b"by v4", "PUT", {"X-CSRF-Token": token})[0] == 200
    assert browser.open(value)[2] == b"by v4"
    status, headers, _ = browser.form(put, {**fields, "csrf": token})
    assert status == 303 and "notice=" in headers["Location"]
    assert browser.open(value)[2] == b"written"


def test_the_listener_is_on_loopback_and_answers_only_its_own_names(
    explorer_stack: RunningStack, browser: Browser
) -> None:
    api = explorer_stack.ready["api"]
    host, port = api.removeprefix("http://").rsplit(":", 1)
    assert host == "127.0.0.1"
    # Every socket listening on that port is bound to 127.0.0.1 (0100007F), none to any
    # other address of this machine.
    listening = [
        line.split()[1]
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        if Path(table).exists()
        for line in Path(table).read_text().splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[1].endswith(f":{int(port):04X}")
    ]
    assert listening == [f"0100007F:{int(port):04X}"]
    # A page that rebinds its own name to 127.0.0.1 still sends its name: refused.
    rebound = {"Host": f"evil.example:{port}"}
    status, _, body = browser.open("/explorer/", headers=rebound)
    assert status == 421 and b"Misdirected" in body


def test_signing_out_ends_the_session(explorer_stack: RunningStack) -> None:
    visitor = signed_in(explorer_stack)
    token = visitor.csrf()
    status, headers, _ = visitor.form("/explorer/logout", {"csrf": token})
    assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]
    assert visitor.open("/explorer/")[0] == 401


def test_the_openapi_document_describes_the_routes_a_session_can_call(
    explorer_stack: RunningStack,
) -> None:
    visitor = signed_in(explorer_stack)
    status, _, body = visitor.open("/explorer/openapi.json")
    assert status == 200
    document = json.loads(body)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    for path, method in [
        ("/client/v4/accounts/{account}/d1/database/{database}/query", "post"),
        ("/client/v4/accounts/{account}/storage/kv/namespaces/{namespace}/keys", "get"),
        ("/client/v4/accounts/{account}/r2/buckets/{bucket}/objects/{key}", "get"),
        ("/client/v4/accounts/{account}/queues/{queue}/messages", "post"),
        ("/explorer/api/traces/query", "post"),
    ]:
        assert method in paths.get(path, {}), (path, sorted(paths))
    # What the document promises answers: each parameterless v4 GET, with the session alone.
    listed = [
        path
        for path, methods in paths.items()
        if "get" in methods and path.count("{") == 1 and path.startswith("/client/v4/accounts")
    ]
    assert len(listed) >= 4, listed
    for path in listed:
        status, _, answer = visitor.open(path.replace("{account}", "local"))
        assert status == 200 and json.loads(answer)["success"] is True, (path, answer[:300])
