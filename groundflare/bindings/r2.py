"""`env.BUCKET` from Python: the Worker's R2 binding, run through the door (bindings.js).
Bodies stream both ways: an upload is never read whole, nor a download."""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

import httpx

from groundflare.bindings.channel import OBJECT_HEADER, Channel, answer, iter_file

Body = bytes | str | IO[bytes] | Iterable[bytes] | None
CHUNK = 1 << 16


def _options(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


class R2ObjectBody:
    """`R2ObjectBody`: the object's fields (`.object`, as JSON: `key`, `size`, `etag`,
    `httpEtag`, `uploaded`, `httpMetadata`, `customMetadata`, `checksums`, `range`, ...) and
    its body, read once (`read`, `text`, `json`, `iter_bytes`). Close it, or use `with`."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.object: dict[str, Any] = json.loads(unquote(response.headers[OBJECT_HEADER]))

    def __getitem__(self, field: str) -> Any:
        return self.object[field]

    @property
    def key(self) -> str:
        return str(self.object["key"])

    @property
    def size(self) -> int:
        return int(self.object["size"])

    def iter_bytes(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        try:
            yield from self._response.iter_bytes(chunk_size)
        finally:
            self._response.close()

    def read(self) -> bytes:
        try:
            return self._response.read()
        finally:
            self._response.close()

    def text(self) -> str:
        return self.read().decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.read())

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> R2ObjectBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _upload(value: Body) -> tuple[bytes | Iterable[bytes] | None, dict[str, str]]:
    """What httpx sends, and a Content-Length when the size is known: workerd's R2 refuses
    a stream of unknown length, exactly as in a Worker."""
    if value is None or isinstance(value, bytes):
        return value, {}
    if isinstance(value, str):
        return value.encode("utf-8"), {}
    if hasattr(value, "read"):
        file: IO[bytes] = value  # type: ignore[assignment]
        if not file.seekable():
            return iter_file(file, CHUNK), {}
        start = file.tell()
        size = file.seek(0, os.SEEK_END) - start
        file.seek(start)
        return iter_file(file, CHUNK), {"content-length": str(size)}
    assert isinstance(value, Iterable)
    return value, {}


class R2Bucket:
    def __init__(self, channel: Channel, worker: str, name: str) -> None:
        self._channel = channel
        self.worker = worker
        self.name = name

    def head(self, key: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._channel.call(
            self.worker, self.name, "r2.head", {"key": key}
        )
        return result

    def get(
        self,
        key: str,
        *,
        range: dict[str, int] | None = None,
        only_if: dict[str, Any] | None = None,
    ) -> R2ObjectBody | dict[str, Any] | None:
        """None when absent; the object's fields without a body when `only_if` failed
        (as production answers); else an R2ObjectBody."""
        options = _options(range=range, onlyIf=only_if)
        response = self._channel.stream(
            self.worker, self.name, "r2.get", {"key": key, "options": options}
        )
        if OBJECT_HEADER in response.headers:
            return R2ObjectBody(response)
        try:
            response.read()
            result: dict[str, Any] | None = answer(response)
            return result
        finally:
            response.close()

    def put(
        self,
        key: str,
        value: Body,
        *,
        http_metadata: dict[str, Any] | None = None,
        custom_metadata: dict[str, str] | None = None,
        only_if: dict[str, Any] | None = None,
        md5: str | None = None,
        sha1: str | None = None,
        sha256: str | None = None,
        storage_class: str | None = None,
    ) -> dict[str, Any] | None:
        """`put(key, value, options)`: the new object's fields, or None when `only_if`
        failed. Bytes, str, an open file or an iterable of bytes (streamed)."""
        options = _options(
            httpMetadata=http_metadata,
            customMetadata=custom_metadata,
            onlyIf=only_if,
            md5=md5,
            sha1=sha1,
            sha256=sha256,
            storageClass=storage_class,
        )
        body, headers = _upload(value)
        args = {"key": key, "options": options, "empty": value is None}
        response = self._channel.stream(
            self.worker, self.name, "r2.put", args, body, "POST", headers
        )
        try:
            response.read()
            result: dict[str, Any] | None = answer(response)
            return result
        finally:
            response.close()

    def list(
        self,
        *,
        prefix: str | None = None,
        delimiter: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
        include: list[str] | None = None,
    ) -> dict[str, Any]:
        """`list()`: `{"objects", "truncated", "cursor"?, "delimitedPrefixes"}`."""
        options = _options(
            prefix=prefix,
            delimiter=delimiter,
            cursor=cursor,
            limit=limit,
            startAfter=start_after,
            include=include,
        )
        result: dict[str, Any] = self._channel.call(
            self.worker, self.name, "r2.list", {"options": options}
        )
        return result

    def delete(self, keys: str | builtins.list[str]) -> None:
        self._channel.call(self.worker, self.name, "r2.delete", {"keys": keys})

    def upload_folder(self, folder: Path, prefix: str = "") -> builtins.list[str]:
        """Every file under `folder` as an object named by its relative path (after
        `prefix`); the keys written."""
        keys = []
        root = Path(folder)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = prefix + path.relative_to(root).as_posix()
            with path.open("rb") as file:
                self.put(key, file)
            keys.append(key)
        return keys
