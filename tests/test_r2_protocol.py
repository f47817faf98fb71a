"""The R2 wire protocol in-process, over a real unix socket: what workerd sends and reads.

Exact bytes matter here (specs/r2.md A): header names, the metadata-size framing,
raw UTF-8 JSON, and `CF-R2-Error` for malformed requests that workerd itself never
sends, so no Worker could provoke them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from pathlib import Path

import aiohttp
import apsw
import pytest

from groundflare.contracts.resources import RESOURCE_HEADER, TOKEN_HEADER, ResourceSpec
from groundflare.contracts.shim_config import ShimConfig
from groundflare.shim.app import Shim
from groundflare.shim.r2 import index as r2_index
from groundflare.shim.server import serve_unix

TOKEN = "test-token-0123456789"
TAG = {RESOURCE_HEADER: "r2:bucket", TOKEN_HEADER: TOKEN}
INVALID = {"version": 1, "v4code": 10029, "message": "Metadata missing or invalid"}
INTERNAL = "We encountered an internal error. Please try again."


@pytest.fixture
async def session(tmp_path: Path, caplog):
    socket = tmp_path / "shim.sock"
    shim = Shim(
        ShimConfig(
            socket=socket,
            data_dir=tmp_path,
            resources=[ResourceSpec(kind="r2", id="bucket")],
        ),
        TOKEN,
    )
    await shim.open()
    server = await serve_unix(shim.dispatch, str(socket))
    connector = aiohttp.UnixConnector(path=str(socket))
    with caplog.at_level(logging.INFO, logger="shim"):
        async with aiohttp.ClientSession(connector=connector) as client:
            yield client
    server.close()
    await shim.close()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]


def request_header(document: dict | str) -> dict[str, str]:
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    # aiohttp sends header text as UTF-8 bytes, as workerd does.
    return {**TAG, "cf-r2-request": text}


async def read(session, document: dict | str):
    async with session.get("http://shim/", headers=request_header(document)) as response:
        return response.status, response.headers, await response.read()


async def write(session, document: dict | bytes, payload: bytes = b"", **extra: str):
    metadata = document if isinstance(document, bytes) else json.dumps(document).encode()
    headers = {**TAG, "cf-r2-metadata-size": str(len(metadata)), **extra}
    async with session.put("http://shim/", data=metadata + payload, headers=headers) as response:
        return response.status, response.headers, await response.read()


def r2_error(headers) -> dict:
    return json.loads(headers["cf-r2-error"])


def split(headers, body: bytes) -> tuple[dict, bytes]:
    size = int(headers["cf-r2-metadata-size"])
    return json.loads(body[:size]), body[size:]


async def objects(session) -> list[str]:
    status, headers, body = await read(session, {"version": 1, "method": "list"})
    assert status == 200
    return [o["name"] for o in split(headers, body)[0]["objects"]]


async def test_the_wire_example_from_workerds_server_test(session):
    put = {"version": 1, "method": "put", "object": "baz"}
    status, _, body = await write(session, put, b"Hello from R2")
    assert status == 200
    stored = json.loads(body)  # a PUT-style answer is all JSON, no size header needed
    assert stored["name"] == "baz"
    assert stored["etag"] == hashlib.md5(b"Hello from R2").hexdigest()
    status, headers, body = await read(session, {"version": 1, "method": "get", "object": "baz"})
    assert status == 200
    assert int(headers["content-length"]) == len(body)
    metadata, payload = split(headers, body)
    assert payload == b"Hello from R2"
    assert metadata == {
        "name": "baz",
        "version": stored["version"],
        "size": 13,
        "etag": stored["etag"],
        "uploaded": stored["uploaded"],
        "checksums": {"0": stored["etag"]},
        "storageClass": "Standard",
        "range": {"offset": 0, "length": 13},
    }


async def test_utf8_travels_raw_both_ways(session):
    key = "fotos/zoë/🚀.png"
    put = {"version": 1, "method": "put", "object": key, "customFields": [{"k": "ö", "v": "😀"}]}
    status, _, body = await write(session, put, b"x")
    assert status == 200
    assert key.encode() in body and b"\\u" not in body
    status, headers, body = await read(session, {"version": 1, "method": "head", "object": key})
    assert status == 200
    assert "😀".encode() in body and b"\\u" not in body
    assert split(headers, body)[0]["customFields"] == [{"k": "ö", "v": "😀"}]


async def test_64_bit_integers_arrive_as_strings(session):
    await write(session, {"version": 1, "method": "put", "object": "n"}, b"0123456789")
    get = {"version": 1, "method": "get", "object": "n", "range": {"offset": "2", "length": "3"}}
    status, headers, body = await read(session, get)
    metadata, payload = split(headers, body)
    assert (status, payload, metadata["range"]) == (200, b"234", {"offset": 2, "length": 3})


async def test_a_missing_object_is_404_10007(session):
    status, headers, body = await read(session, {"version": 1, "method": "head", "object": "x"})
    assert (status, body) == (404, b"")
    assert r2_error(headers) == {
        "version": 1,
        "v4code": 10007,
        "message": "The specified key does not exist.",
    }


async def test_a_failed_get_condition_carries_the_metadata(session):
    await write(session, {"version": 1, "method": "put", "object": "c"}, b"abc")
    only_if = {"etagMatches": [{"type": "strong", "value": "nope"}]}
    status, headers, body = await read(
        session, {"version": 1, "method": "get", "object": "c", "onlyIf": only_if}
    )
    assert status == 412
    assert r2_error(headers)["v4code"] == 10031
    metadata, payload = split(headers, body)
    assert (metadata["name"], metadata["size"], payload) == ("c", 3, b"")


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "{",
        '{"version": 1, "method": "explode", "object": "a"}',
        '{"version": 1, "method": "get"}',
        '{"version": 1, "method": "get", "object": 42}',
        '{"version": 1, "method": "get", "object": "a", "range": {"offset": "x"}}',
        '{"version": 1, "method": "get", "object": "a", "range": {"offset": "-1"}}',
        '{"version": 1, "method": "list", "limit": "many"}',
        '{"version": 1, "method": "put", "object": "a"}',  # a write as a read
    ],
)
async def test_malformed_read_requests_are_400_10029(session, document):
    status, headers, body = await read(session, document)
    assert (status, r2_error(headers), body) == (400, INVALID, b"")


async def test_a_read_without_the_request_header_is_400_10029(session):
    async with session.get("http://shim/", headers=TAG) as response:
        assert response.status == 400
        assert r2_error(response.headers) == INVALID


async def test_a_request_header_that_is_not_utf8_is_400_10029(session, tmp_path):
    reader, writer = await asyncio.open_unix_connection(tmp_path / "shim.sock")
    tags = "".join(f"{name}: {value}\r\n" for name, value in TAG.items()).encode()
    document = b'{"version": 1, "method": "head", "object": "\xff"}'
    writer.write(b"GET / HTTP/1.1\r\nHost: fake-host\r\n" + tags)
    writer.write(b"cf-r2-request: " + document + b"\r\nContent-Length: 0\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.dumps(INVALID, separators=(",", ":")).encode() in head


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b'{"version": 1, "method": "put"}',
        b'{"version": 1, "method": "put", "object": "a", "md5": "%%%"}',
        b'{"version": 1, "method": "put", "object": "a", "sha256": "xyz"}',
        b'{"version": 1, "method": "head", "object": "a"}',  # a read as a write
        b'{"version": 1, "method": "delete"}',
        b'{"version": 1, "method": "uploadPart", "object": "a", "uploadId": "u"}',
    ],
)
async def test_malformed_write_requests_are_400_10029_and_write_nothing(session, document):
    status, headers, _ = await write(session, document, b"payload")
    assert (status, r2_error(headers)) == (400, INVALID)
    assert await objects(session) == []


async def test_write_framing_errors_are_400_10029(session):
    body = b'{"version": 1, "method": "put", "object": "a"}'
    async with session.put("http://shim/", data=body, headers=TAG) as response:
        assert (response.status, r2_error(response.headers)) == (400, INVALID)
    for size in ("abc", "-1", str(len(body) + 1)):
        headers = {**TAG, "cf-r2-metadata-size": size}
        async with session.put("http://shim/", data=body, headers=headers) as response:
            assert (response.status, r2_error(response.headers)) == (400, INVALID)
    assert await objects(session) == []


async def test_other_http_methods_are_400_10029(session):
    async with session.post("http://shim/", data=b"{}", headers=TAG) as response:
        assert (response.status, r2_error(response.headers)) == (400, INVALID)


async def test_a_wrong_md5_is_bad_digest_and_writes_nothing(session, tmp_path):
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    put = {"version": 1, "method": "put", "object": "d", "md5": wrong}
    status, headers, _ = await write(session, put, b"payload" * 20_000)
    assert status == 400
    assert r2_error(headers) == {
        "version": 1,
        "v4code": 10037,
        "message": "The MD5 checksum you specified did not match what we received.\n"
        f"You provided a MD5 checksum with value: {hashlib.md5(b'other').hexdigest()}\n"
        f"Actual MD5 was: {hashlib.md5(b'payload' * 20_000).hexdigest()}",
    }
    assert await objects(session) == []
    blobs = tmp_path / "r2" / "bucket" / "blobs"
    assert [p for p in blobs.rglob("*") if p.is_file()] == []


async def test_delete_needs_one_to_a_thousand_keys(session):
    too_many = {"version": 1, "method": "delete", "objects": [str(i) for i in range(1001)]}
    for document in ({"version": 1, "method": "delete", "objects": []}, too_many):
        status, headers, _ = await write(session, document)
        assert status == 400
        assert r2_error(headers) == {
            "version": 1,
            "v4code": 10027,
            "message": "The number of keys in the request must be between 1 and 1000 inclusive.",
        }


async def test_large_gets_are_streamed_with_content_length(session):
    payload = hashlib.sha256(b"x").digest() * 100_000  # 3.2 MB
    await write(session, {"version": 1, "method": "put", "object": "big"}, payload)
    async with session.get(
        "http://shim/", headers=request_header({"version": 1, "method": "get", "object": "big"})
    ) as response:
        assert "transfer-encoding" not in response.headers
        size = int(response.headers["cf-r2-metadata-size"])
        assert int(response.headers["content-length"]) == size + len(payload)
        body = await response.read()
    assert body[size:] == payload


async def test_unknown_fields_are_ignored(session):
    put = {"version": 1, "method": "put", "object": "f", "futureField": {"x": 1}}
    assert (await write(session, put, b"1"))[0] == 200
    status, _, _ = await read(
        session, {"version": 1, "method": "head", "object": "f", "newThing": True}
    )
    assert status == 200


async def test_a_put_over_the_size_limit_is_refused_before_its_body_arrives(session, tmp_path):
    reader, writer = await asyncio.open_unix_connection(tmp_path / "shim.sock")
    metadata = b'{"version":1,"method":"put","object":"huge"}'
    size = len(metadata) + 5 * 1024**3 - 5 * 1024**2 + 1
    head = f"PUT / HTTP/1.1\r\nHost: fake-host\r\nContent-Length: {size}\r\n"
    tags = "".join(f"{name}: {value}\r\n" for name, value in TAG.items())
    writer.write(f"{head}{tags}cf-r2-metadata-size: {len(metadata)}\r\n\r\n".encode() + metadata)
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    expected = {
        "version": 1,
        "v4code": 100100,
        "message": "Your proposed upload exceeds the maximum allowed object size.",
    }
    assert json.dumps(expected, separators=(",", ":")).encode() in answer


async def test_a_lock_held_past_the_busy_timeout_is_an_internal_error(
    session, tmp_path, monkeypatch
):
    monkeypatch.setattr(r2_index, "BUSY_TIMEOUT_MS", 50)
    (path,) = tmp_path.glob("r2/*/index.sqlite")
    put = {"version": 1, "method": "put", "object": "k"}
    other = apsw.Connection(str(path))
    other.execute("BEGIN IMMEDIATE")
    try:
        status, headers, _ = await write(session, put, b"v")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert status == 500
    assert r2_error(headers) == {"version": 1, "v4code": 10001, "message": INTERNAL}
    assert (await write(session, put, b"v"))[0] == 200
