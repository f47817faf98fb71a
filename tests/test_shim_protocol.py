"""The shim's HTTP surface in-process, over a real unix socket: routing, auth, bad requests.

D1 behaviour itself is covered through real workerd in test_d1_*; that SQLite work does not
hold the event loop past its budget is shown, without timing anything, in test_d1_engine.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from groundflare.contracts.resources import RESOURCE_HEADER, TOKEN_HEADER, ResourceSpec
from groundflare.contracts.shim_config import ShimConfig
from groundflare.shim.app import Shim
from groundflare.shim.messages import HEAD_BYTES, Body
from groundflare.shim.server import serve_unix

TOKEN = "test-token-0123456789"
DB = ResourceSpec(kind="d1", id="db-1", name="main")


class Client:
    """Requests to the shim's socket with relative paths, like aiohttp's test client."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    def post(self, path: str, **kwargs):
        return self.session.post(f"http://shim{path}", **kwargs)

    def get(self, path: str, **kwargs):
        return self.session.get(f"http://shim{path}", **kwargs)


@pytest.fixture
async def client(tmp_path: Path):
    socket = tmp_path / "shim.sock"
    shim = Shim(ShimConfig(socket=socket, data_dir=tmp_path, resources=[DB]), TOKEN)
    await shim.open()
    server = await serve_unix(shim.dispatch, str(socket))
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket))) as session:
        yield Client(session)
    server.close()
    await shim.close()


def tagged(kind: str = "d1", resource: str = DB.id, token: str = TOKEN) -> dict[str, str]:
    return {RESOURCE_HEADER: f"{kind}:{resource}", TOKEN_HEADER: token}


async def post(client, path: str, body: bytes | str, headers: dict[str, str] | None = None):
    data = body.encode() if isinstance(body, str) else body
    response = await client.post(
        path, data=data, headers=headers if headers is not None else tagged()
    )
    return response.status, await response.json(content_type=None)


async def test_a_request_without_the_resource_tag_is_refused(client):
    status, body = await post(client, "/query", '{"sql": "SELECT 1"}', headers={})
    assert status == 400
    assert body == {
        "success": False,
        "error": "missing x-groundflare-resource header: the shim only answers workerd bindings",
    }


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x", TOKEN[:-1]])
async def test_a_wrong_or_missing_token_is_refused(client, token):
    headers = tagged(token=token)
    if not token:
        del headers[TOKEN_HEADER]
    status, body = await post(client, "/query", '{"sql": "SELECT 1"}', headers=headers)
    assert status == 403
    assert body == {"success": False, "error": "missing or invalid x-groundflare-token"}


async def test_an_unknown_resource_is_a_404(client):
    status, body = await post(client, "/query", '{"sql": "SELECT 1"}', tagged(resource="nope"))
    assert status == 404
    assert body == {"success": False, "error": "unknown resource 'd1:nope'"}


async def test_a_tagged_query_is_answered(client):
    status, body = await post(
        client, "/query?resultsFormat=ROWS_AND_COLUMNS", '{"sql":"SELECT 1 AS x"}'
    )
    assert status == 200
    assert body[0]["results"] == {"columns": ["x"], "rows": [[1]]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "Invalid D1 request body: "),
        ('{"sql": 42}', "Invalid D1 request body: "),
        ('{"params": []}', "Invalid D1 request body: "),
        ('{"sql": "SELECT ?", "params": [{"a": 1}]}', "Invalid D1 request body: "),
        ('{"sql": "SELECT ?", "params": "x"}', "Invalid D1 request body: "),
        ("[1, 2]", "Invalid D1 request body: "),
        ("", "Invalid D1 request body: "),
    ],
)
async def test_malformed_bodies_get_a_400_failure_object(client, body, message):
    status, payload = await post(client, "/query", body)
    assert status == 400
    assert payload["success"] is False
    assert payload["error"].startswith(message)
    assert "Traceback" not in payload["error"]


async def test_unknown_paths_and_methods(client):
    status, body = await post(client, "/nope", "{}")
    assert (status, body) == (404, {"error": "Not found"})
    response = await client.get("/query", headers=tagged())
    assert response.status == 405


async def test_health_needs_no_tag(client):
    response = await client.get("/_groundflare/health")
    assert response.status == 200
    assert await response.json() == {"ok": True}


async def test_results_formats(client):
    sql = json.dumps({"sql": "SELECT 1 AS a, 2 AS b"})
    _, rows = await post(client, "/query?resultsFormat=ROWS_AND_COLUMNS", sql)
    _, objects = await post(client, "/query?resultsFormat=ARRAY_OF_OBJECTS", sql)
    _, none = await post(client, "/execute?resultsFormat=NONE", sql)
    _, default = await post(client, "/query", sql)
    assert rows[0]["results"] == {"columns": ["a", "b"], "rows": [[1, 2]]}
    assert objects[0]["results"] == [{"a": 1, "b": 2}]
    assert none[0]["results"] == [{"a": 1, "b": 2}]
    assert default[0]["results"] == [{"a": 1, "b": 2}]


async def test_responses_carry_a_bookmark_that_grows_with_writes(client):
    first = await client.post("/query", data='{"sql": "SELECT 1"}', headers=tagged())
    write = await client.post("/query", data='{"sql": "CREATE TABLE t (x)"}', headers=tagged())
    before = first.headers["x-cf-d1-session-commit-token"]
    after = write.headers["x-cf-d1-session-commit-token"]
    assert after > before


async def test_the_database_file_has_a_readable_name(client, tmp_path):
    await post(client, "/query", '{"sql": "CREATE TABLE t (x)"}')
    assert (tmp_path / "d1" / "main-db-1.sqlite").is_file()


async def test_a_body_that_fails_midway_cuts_the_connection(tmp_path):
    """A streamed body that raises after the headers went out must not leave the client waiting."""
    from groundflare.shim.messages import Request, Response

    async def failing() -> object:
        yield b"first part"
        raise OSError("disk went away")

    async def handler(request: Request) -> Response:
        return Response(body=failing(), length=100)

    socket = tmp_path / "s.sock"
    server = await serve_unix(handler, str(socket))
    reader, writer = await asyncio.open_unix_connection(str(socket))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    received = await asyncio.wait_for(reader.read(), timeout=10)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"first part")
    writer.close()
    server.close()


class _Reading:
    def hold_reading(self, reason: int, hold: bool) -> None:
        pass


async def test_a_request_body_keeps_its_first_bytes_for_the_record_after_it_is_read() -> None:
    body = Body(_Reading())
    body.feed(b'{"sql":"SELECT ')
    body.feed(b"1" + b"x" * HEAD_BYTES)
    body.finish()
    whole = await body.read(1 << 20)
    assert body.head == whole[:HEAD_BYTES]
    assert len(body.head) == HEAD_BYTES
