"""The KV wire protocol in-process, byte for byte: what workerd never sends but the shim must
still answer well, and response details the Worker cannot observe (specs/kv.md A)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import apsw
import pytest

from groundflare.contracts.resources import RESOURCE_HEADER, TOKEN_HEADER, ResourceSpec
from groundflare.contracts.shim_config import ShimConfig
from groundflare.shim.app import Shim
from groundflare.shim.kv import index
from groundflare.shim.kv.binding import ascii_json
from groundflare.shim.server import serve_unix

TOKEN = "test-token-0123456789"
NAMESPACE = ResourceSpec(kind="kv", id="ns-1")


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class RawClient:
    """Sends request targets exactly as written (no URL normalisation), headers as latin-1."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    async def send(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        reader, writer = await asyncio.open_unix_connection(str(self.socket))
        head = {
            "Host": "fake-host",
            RESOURCE_HEADER: f"kv:{NAMESPACE.id}",
            TOKEN_HEADER: TOKEN,
            "Content-Length": str(len(body)),
            "Connection": "close",
            **(headers or {}),
        }
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
        writer.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
        raw = await reader.read()
        writer.close()
        status_line, _, rest = raw.partition(b"\r\n")
        header_block, _, payload = rest.partition(b"\r\n\r\n")
        _, status, reason = status_line.decode("latin-1").split(" ", 2)
        fields = {}
        for line in header_block.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(": ")
            fields[name.lower()] = value
        return Reply(int(status), reason, fields, payload)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[RawClient]:
    socket = tmp_path / "shim.sock"
    shim = Shim(ShimConfig(socket=socket, data_dir=tmp_path, resources=[NAMESPACE]), TOKEN)
    await shim.open()
    server = await serve_unix(shim.dispatch, str(socket))
    yield RawClient(socket)
    server.close()
    await shim.close()


def refused(reply: Reply, status: int, message: str) -> bool:
    """A failure carries its message both as reason phrase and as body."""
    return (reply.status, reply.reason, reply.body) == (status, message, message.encode())


async def test_the_wire_example_from_workerds_server_test(client):
    assert (await client.send("PUT", "/bar?urlencoded=true", b"Hello from KV")).status == 200
    reply = await client.send(
        "GET", "/bar?urlencoded=true", headers={"CF-KV-FLPROD-405": "https://fake-host/bar"}
    )
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"Hello from KV")
    assert reply.headers["content-length"] == "13"
    assert "cf-kv-metadata" not in reply.headers
    assert "cf-expiration" not in reply.headers
    assert "content-encoding" not in reply.headers


async def test_keys_are_percent_decoded_once_with_plus_kept(client):
    await client.send("PUT", "/a+b%20c%2Fd%25?urlencoded=true", b"v")
    assert (await client.send("GET", "/a%2Bb%20c%2Fd%25?urlencoded=true")).body == b"v"
    assert (await client.send("GET", "/a%2Bb+c%2Fd%25?urlencoded=true")).status == 404
    listed = await client.send("GET", "/")
    assert listed.body == b'{"keys":[{"name":"a+b c/d%"}],"list_complete":true}'


async def test_urlencoded_is_case_insensitive_and_its_absence_keeps_the_key_raw(client):
    await client.send("PUT", "/x%20y?urlencoded=TRUE", b"decoded")
    await client.send("PUT", "/x%20y", b"raw")
    assert (await client.send("GET", "/x%20y?urlencoded=True")).body == b"decoded"
    assert (await client.send("GET", "/x%2520y?urlencoded=true")).body == b"raw"


@pytest.mark.parametrize("target", ["/%zz", "/a%2", "/%", "/%C3%28", "/%FF"])
async def test_escapes_decodeURIComponent_would_reject(client, target):  # noqa: N802
    reply = await client.send("GET", f"{target}?urlencoded=true")
    assert refused(reply, 400, "Could not URL-decode key name")


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("/", 400, "Key names must not be empty"),
        ("/.?urlencoded=true", 400, 'Illegal key name ".". Please use a different name.'),
        ("/%2E%2E?urlencoded=true", 400, 'Illegal key name "..". Please use a different name.'),
        (
            f"/{'%C3%A9' * 257}?urlencoded=true",
            414,
            "UTF-8 encoded length of 514 exceeds key length limit of 512.",
        ),
    ],
)
async def test_keys_the_binding_would_refuse_before_sending(client, target, status, message):
    assert refused(await client.send("PUT", target, b"v"), status, message)
    if target != "/":
        assert refused(await client.send("GET", target), status, message)
        assert refused(await client.send("DELETE", target), status, message)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "expiration_ttl=abc",
            "Invalid expiration_ttl of abc. Please specify integer greater than 0.",
        ),
        (
            "expiration_ttl=1.5",
            "Invalid expiration_ttl of 1.5. Please specify integer greater than 0.",
        ),
        ("expiration_ttl=", "Invalid expiration_ttl of . Please specify integer greater than 0."),
        (
            "expiration=soon",
            "Invalid expiration of soon. Please specify integer greater than the "
            "current number of seconds since the UNIX epoch.",
        ),
        ("expiration=1&expiration_ttl=60", None),
    ],
)
async def test_put_options_are_integers(client, query, message):
    reply = await client.send("PUT", f"/k?urlencoded=true&{query}", b"v")
    if message is None:
        assert reply.status == 200
    else:
        assert refused(reply, 400, message)


async def test_reason_phrases_stay_one_line_of_ascii(client):
    reply = await client.send(
        "PUT", "/k?urlencoded=true&expiration_ttl=%0D%0AX-Evil:%20%C3%A9", b""
    )
    message = "Invalid expiration_ttl of \r\nX-Evil: é. Please specify integer greater than 0."
    assert (reply.status, reply.body.decode()) == (400, message)
    assert (
        reply.reason
        == "Invalid expiration_ttl of ??X-Evil: ?. Please specify integer greater than 0."
    )
    assert "x-evil" not in reply.headers


async def test_metadata_arrives_as_raw_utf8_and_leaves_as_ascii_json(client):
    raw = '{"name":"zoë","emoji":"😀"}'.encode()
    reply = await client.send(
        "PUT",
        "/m?urlencoded=true&expiration_ttl=3600",
        b"v",
        headers={"CF-KV-Metadata": raw.decode("latin-1")},
    )
    assert reply.status == 200
    reply = await client.send("GET", "/m?urlencoded=true")
    assert reply.headers["cf-kv-metadata"] == ('{"name":"zo\\u00eb","emoji":"\\ud83d\\ude00"}')
    assert int(reply.headers["cf-expiration"]) > 0
    listed = await client.send("GET", "/?prefix=m")
    assert b'"metadata":"{\\"name\\":\\"zo\xc3\xab\\"' in listed.body


def test_header_json_is_escaped_to_ascii_only_when_needed():
    assert ascii_json('{"a":"plain"}') == '{"a":"plain"}'
    assert ascii_json('["é€😀\x7f"]') == '["\\u00e9\\u20ac\\ud83d\\ude00\\u007f"]'


@pytest.mark.parametrize("metadata", ["{not json", "NaN", "", '"\xff"'])
async def test_metadata_must_be_json(client, metadata):
    reply = await client.send("PUT", "/m?urlencoded=true", b"v", {"CF-KV-Metadata": metadata})
    assert refused(reply, 400, "Metadata must be valid UTF-8 JSON.")


async def test_a_declared_length_over_the_limit_is_refused_before_reading(client):
    reply = await client.send(
        "PUT", "/k?urlencoded=true", headers={"Content-Length": "26214401", "Connection": "close"}
    )
    assert refused(reply, 413, "Value length of 26214401 exceeds limit of 26214400.")


async def test_an_empty_body_without_a_length_is_an_empty_value(client):
    reader, writer = await asyncio.open_unix_connection(str(client.socket))
    writer.write(
        b"PUT /e?urlencoded=true HTTP/1.1\r\nHost: fake-host\r\n"
        + f"{RESOURCE_HEADER}: kv:{NAMESPACE.id}\r\n{TOKEN_HEADER}: {TOKEN}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    )
    assert (await reader.read()).startswith(b"HTTP/1.1 200 OK\r\n")
    writer.close()
    reply = await client.send("GET", "/e?urlencoded=true")
    assert (reply.status, reply.body) == (200, b"")


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        (
            "key_count_limit=0",
            400,
            "Invalid key_count_limit of 0. Please specify an integer greater than 0.",
        ),
        (
            "key_count_limit=ten",
            400,
            "Invalid key_count_limit of ten. Please specify an integer greater than 0.",
        ),
        (
            "key_count_limit=1001",
            400,
            "Invalid key_count_limit of 1001. Please specify an integer less than 1000.",
        ),
        ("cursor=%25%25", 400, "Invalid cursor of %%."),
        (
            f"prefix={'p' * 513}",
            414,
            "UTF-8 encoded length of 513 exceeds key length limit of 512.",
        ),
    ],
)
async def test_list_options(client, query, status, message):
    assert refused(await client.send("GET", f"/?{query}"), status, message)


async def test_list_parameters_are_form_encoded(client):
    for key in ["a b", "a+b", "a"]:
        await client.send("PUT", f"/{key.replace(' ', '%20')}?urlencoded=true", b"v")
    assert (await client.send("GET", "/?prefix=a+")).body == (
        b'{"keys":[{"name":"a b"}],"list_complete":true}'
    )
    assert (await client.send("GET", "/?prefix=a%2B&key_count_limit=1")).body == (
        b'{"keys":[{"name":"a+b"}],"list_complete":true}'
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            b"{",
            400,
            "Invalid bulk get request: body: Invalid JSON: EOF while parsing an object "
            "at line 1 column 1",
        ),
        (b'{"keys": "a"}', 400, "Invalid bulk get request: keys: Input should be a valid array"),
        (
            b'{"keys": ["a"], "cacheTtl": "abc"}',
            400,
            "Invalid cache_ttl of abc. Cache TTL must be at least 30.",
        ),
        (b'{"keys": [], "type": "blob"}', 400, '"blob" is not a valid type. Use "json" or "text"'),
    ],
)
async def test_bulk_get_bodies(client, body, status, message):
    assert refused(await client.send("POST", "/bulk/get", body), status, message)


async def test_other_requests_are_not_part_of_the_protocol(client):
    assert refused(
        await client.send("POST", "/k"), 405, "POST /k is not part of the KV binding protocol"
    )
    assert refused(
        await client.send("PATCH", "/k"), 405, "PATCH /k is not part of the KV binding protocol"
    )


async def test_a_lock_held_past_the_busy_timeout_is_a_500_naming_it(client, tmp_path, monkeypatch):
    monkeypatch.setattr(index, "BUSY_TIMEOUT_MS", 50)
    (path,) = tmp_path.glob("kv/*/index.sqlite")
    other = apsw.Connection(str(path))
    other.execute("BEGIN IMMEDIATE")
    try:
        reply = await client.send("PUT", "/k?urlencoded=true", b"v")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert refused(reply, 500, "KV index is locked (SQLITE_BUSY); see the shim's log")
    assert (await client.send("PUT", "/k?urlencoded=true", b"v")).status == 200
