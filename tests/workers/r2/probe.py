"""Driving the R2 probe Worker (worker.js beside this file): R2 calls in, what the API gave out."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import RunningStack, run_steps, start_stack, step_error, step_ok

WRANGLER = Path(__file__).resolve().parent / "wrangler.toml"
PATTERN_CHUNK = 1 << 20
_names = itertools.count()


@pytest.fixture(scope="module")
def r2_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack running the R2 probe Worker, shared by a test module."""
    stack = start_stack([WRANGLER], tmp_path_factory.mktemp("r2") / "data")
    yield stack
    assert stack.stop() == 0


@pytest.fixture
def key() -> str:
    """A key no other test uses, so tests can share one bucket."""
    return f"k{next(_names)}"


run = run_steps
ok = step_ok
error = step_error


def put(stack: RunningStack, key: str, value: Any = "", **options: Any) -> Any:
    step: dict[str, Any] = {"op": "put", "key": key, "value": value}
    if options:
        step["options"] = options
    return ok(stack, step)


def get(stack: RunningStack, key: str, read: str = "text", **options: Any) -> Any:
    step: dict[str, Any] = {"op": "get", "key": key, "read": read}
    if options:
        step["options"] = options
    return ok(stack, step)


def head(stack: RunningStack, key: str) -> Any:
    return ok(stack, {"op": "head", "key": key})


def listing(stack: RunningStack, **options: Any) -> Any:
    return ok(stack, {"op": "list", "options": options})


def raw(data: bytes) -> dict[str, str]:
    """A binary value for the Worker (a Uint8Array there)."""
    return {"$bytes": base64.b64encode(data).decode()}


def headers(**values: str) -> dict[str, dict[str, str]]:
    """A Headers object for the Worker; underscores in names become dashes."""
    return {"$headers": {name.replace("_", "-"): value for name, value in values.items()}}


def pattern(size: int, seed: int = 0) -> dict[str, dict[str, int]]:
    """A stream of `size` known bytes, generated in the Worker."""
    return {"$pattern": {"size": size, "seed": seed}}


def pattern_bytes(size: int, seed: int = 0) -> bytes:
    chunk = bytes((j * 7 + seed) % 251 for j in range(min(size, PATTERN_CHUNK)))
    whole, rest = divmod(size, PATTERN_CHUNK)
    return chunk * whole + chunk[:rest]


def pattern_md5(size: int, seed: int = 0) -> str:
    digest = hashlib.md5()
    chunk = pattern_bytes(min(size, PATTERN_CHUNK), seed)
    for start in range(0, size, PATTERN_CHUNK):
        digest.update(chunk[: min(PATTERN_CHUNK, size - start)])
    return digest.hexdigest()


def md5_hex(data: bytes | str) -> str:
    return hashlib.md5(data.encode() if isinstance(data, str) else data).hexdigest()


def multipart_etag(*part_md5s: str) -> str:
    joined = b"".join(bytes.fromhex(md5) for md5 in part_md5s)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_md5s)}"
