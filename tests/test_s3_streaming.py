"""1 GiB through R2's S3 API with boto3: uploaded and downloaded whole, while the shim's
memory stays flat (its peak RSS grows by far less than the object: nothing is held whole)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import boto3
import pytest

from tests.stack import component_pid
from tests.v4 import PROBES, R2_PROBE_BUCKET, stack_env

SIZE = 1 << 30
# The shim's peak RSS may grow by this much while 1 GiB passes: a few part buffers.
MAX_GROWTH = 256 << 20


class Pattern(io.RawIOBase):
    """`SIZE` bytes of a repeating pattern, made as read, hashed on the way."""

    BLOCK = bytes(range(256)) * 4096

    def __init__(self) -> None:
        self.left = SIZE
        self.md5 = hashlib.md5()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = min(len(buffer), self.left, len(self.BLOCK))
        offset = (SIZE - self.left) % len(self.BLOCK)
        data = (self.BLOCK[offset:] + self.BLOCK)[:count]
        buffer[:count] = data
        self.md5.update(data)
        self.left -= count
        return count


class Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        self.md5.update(data)
        self.size += len(data)
        return len(data)


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_one_gib_up_and_down_with_flat_shim_memory(tmp_data, stacks):
    stack = stacks(PROBES, tmp_data)
    env = stack_env(stack.data_dir)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="auto",
    )
    shim = component_pid(stack.data_dir, "shim")
    before = peak_rss(shim)
    source = Pattern()
    s3.upload_fileobj(source, R2_PROBE_BUCKET, "big/one-gib")
    assert s3.head_object(Bucket=R2_PROBE_BUCKET, Key="big/one-gib")["ContentLength"] == SIZE
    sink = Sink()
    s3.download_fileobj(R2_PROBE_BUCKET, "big/one-gib", sink)
    assert (sink.size, sink.md5.hexdigest()) == (SIZE, source.md5.hexdigest())
    whole = s3.get_object(Bucket=R2_PROBE_BUCKET, Key="big/one-gib")["Body"]
    streamed = hashlib.md5()
    while chunk := whole.read(8 << 20):
        streamed.update(chunk)
    assert streamed.hexdigest() == source.md5.hexdigest()
    assert peak_rss(shim) - before < MAX_GROWTH
