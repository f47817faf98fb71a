"""Large objects stream through the shim without being held in memory, and what was
acknowledged survives restarts and kill -9."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

from tests.stack import RunningStack, component_pid, restarted
from tests.workers.r2.probe import (
    WRANGLER,
    get,
    md5_hex,
    multipart_etag,
    ok,
    pattern,
    pattern_md5,
    put,
    run,
)

MiB = 1024 * 1024
LARGE = 256 * MiB
RSS_LIMIT_KB = 150 * 1024


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_large_object_streams_both_ways_in_bounded_memory(stacks, tmp_data):
    stack = stacks([WRANGLER], tmp_data)
    stored = put(stack, "large", pattern(LARGE, seed=9))
    assert stored["size"] == LARGE
    assert stored["etag"] == pattern_md5(LARGE, seed=9)
    fetched = get(stack, "large", read="digest")
    assert fetched["body"]["bytes"] == LARGE
    assert fetched["body"]["md5"] == stored["etag"]
    assert peak_rss_kb(component_pid(stack.data_dir, "shim")) < RSS_LIMIT_KB


def test_request_bodies_stream_into_the_bucket_and_back_out(stacks, tmp_data):
    """A Worker that stores `request.body` and answers with `object.body`."""
    stack = stacks([WRANGLER], tmp_data)
    size = 64 * MiB
    block = hashlib.sha256(b"block").digest() * 32768  # 1 MiB
    url = urlsplit(stack.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    connection.request(
        "PUT",
        "/object/uploads/video.bin",
        body=(block for _ in range(size // MiB)),
        headers={"Content-Length": str(size)},
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    assert json.loads(response.read())["etag"] == md5_hex(block * (size // MiB))
    connection.request("GET", "/object/uploads/video.bin")
    response = connection.getresponse()
    assert response.getheader("content-length") == str(size)  # the length travels along
    digest, received = hashlib.md5(), 0
    while chunk := response.read(MiB):
        digest.update(chunk)
        received += len(chunk)
    connection.close()
    assert received == size
    assert digest.hexdigest() == md5_hex(block * (size // MiB))
    assert peak_rss_kb(component_pid(stack.data_dir, "shim")) < RSS_LIMIT_KB


def fill(stack: RunningStack) -> dict[str, str]:
    """An inline value, a file-backed value and a multipart object; returns their etags."""
    etags = {
        "small": put(stack, "small", "tiny")["etag"],
        "file": put(stack, "file", pattern(3 * MiB, seed=1))["etag"],
    }
    upload_id = ok(stack, {"op": "createMultipartUpload", "key": "parts"})["uploadId"]
    parts = [
        ok(
            stack,
            {
                "op": "uploadPart",
                "key": "parts",
                "uploadId": upload_id,
                "partNumber": n,
                "value": pattern(5 * MiB if n == 1 else 100, seed=n),
            },
        )
        for n in (1, 2)
    ]
    step = {"op": "completeMultipartUpload", "key": "parts", "uploadId": upload_id, "parts": parts}
    etags["parts"] = ok(stack, step)["etag"]
    assert etags["parts"] == multipart_etag(*(p["etag"] for p in parts))
    return etags


def check(stack: RunningStack, etags: dict[str, str]) -> None:
    results = run(stack, *({"op": "get", "key": k, "read": "digest"} for k in etags))
    for name, result in zip(etags, results, strict=True):
        obj = result["ok"]
        assert obj["etag"] == etags[name], name
    assert results[0]["ok"]["body"]["md5"] == md5_hex("tiny")
    assert results[1]["ok"]["body"]["md5"] == pattern_md5(3 * MiB, seed=1)


def test_objects_survive_a_restart(stacks, tmp_data):
    first = stacks([WRANGLER], tmp_data)
    etags = fill(first)
    assert first.stop() == 0
    second = stacks([WRANGLER], tmp_data)
    check(second, etags)


def test_acknowledged_writes_survive_kill_9_and_orphans_are_swept(stacks, tmp_data):
    stack = stacks([WRANGLER], tmp_data)
    etags = fill(stack)
    blobs = tmp_data / "r2" / "probe" / "blobs"
    # What a crash mid-put leaves behind: a temp file, and a finished file never indexed.
    (blobs / "tmp" / "deadbeef").write_bytes(b"half a value")
    (blobs / "ab").mkdir(exist_ok=True)
    (blobs / "ab" / "ab0000000000000000000000000000ff").write_bytes(b"never committed")
    old = component_pid(stack.data_dir, "shim")
    os.kill(old, signal.SIGKILL)
    restarted(stack.data_dir, "shim", old)
    check(stack, etags)
    assert not (blobs / "tmp" / "deadbeef").exists()
    assert not (blobs / "ab" / "ab0000000000000000000000000000ff").exists()
