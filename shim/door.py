"""Calling into a running stack's Workers through its door (contracts/door.py).

The shim uses it to fire cron triggers and deliver queue batches; the CLI, tests and
scripts of the same user reach it through `run/door.json`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Literal

import httptools
import orjson

from groundflare.contracts.door import (
    DOOR_HEADER,
    DoorAddress,
    QueueMessage,
    QueueRequest,
    QueueResult,
    ScheduledRequest,
    ScheduledResult,
    durable_objects_path,
    fetch_path,
    queue_path,
    scheduled_path,
)
from groundflare.contracts.layout import DataDir

TIMEOUT_SECONDS = 60.0


class DoorError(Exception):
    """The door refused, or the stack is not running; the message says which."""


class _Answer:
    """httptools' callbacks, collecting one response."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class Door:
    def __init__(self, address: DoorAddress, timeout: float = TIMEOUT_SECONDS) -> None:
        self.address = address
        self.timeout = timeout

    @classmethod
    def of(cls, data_dir: DataDir) -> Door:
        """The door of the stack running on `data_dir`."""
        try:
            return cls(DoorAddress.model_validate_json(data_dir.door_json.read_bytes()))
        except OSError as exc:
            raise DoorError(
                f"no stack is running on {data_dir.root} ({data_dir.door_json}: {exc.strerror})"
            ) from exc

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on its own connection: (status, headers, body)."""
        try:
            return await asyncio.wait_for(self._exchange(method, path, body, headers), self.timeout)
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            raise DoorError(f"the door at {self.address.socket} does not answer: {exc}") from exc

    async def _exchange(
        self, method: str, path: str, body: bytes, headers: dict[str, str] | None
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_unix_connection(str(self.address.socket))
        try:
            lines = [f"{method} {path} HTTP/1.1", "Host: door", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            lines += [f"{DOOR_HEADER}: {self.address.token}", f"Content-Length: {len(body)}"]
            writer.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
            await writer.drain()
            answer = _Answer()
            parser = httptools.HttpResponseParser(answer)
            while not answer.complete and (chunk := await reader.read(65536)):
                parser.feed_data(chunk)
            if not answer.complete:
                raise OSError("the connection closed before the answer ended")
            return parser.get_status_code(), answer.headers, bytes(answer.body)
        finally:
            writer.close()

    async def _call(self, path: str, payload: object) -> bytes:
        status, _, body = await self.request("POST", path, orjson.dumps(payload))
        if status != 200:
            raise DoorError(f"{path}: {status} {body.decode('utf-8', 'replace')}")
        return body

    async def scheduled(
        self, worker: str, cron: str, when: datetime | None = None
    ) -> ScheduledResult:
        """Run `worker`'s scheduled() as a cron trigger firing at `when` (default: now)."""
        moment = when or datetime.now(UTC)
        payload = ScheduledRequest(cron=cron, scheduled_time=int(moment.timestamp() * 1000))
        body = await self._call(scheduled_path(worker), payload.model_dump())
        return ScheduledResult.model_validate_json(body)

    async def queue(self, worker: str, queue: str, messages: list[QueueMessage]) -> QueueResult:
        """Deliver one batch to `worker`'s queue() handler. A JSON body may be an
        orjson.Fragment: the text as the producer sent it, never parsed here."""
        payload = QueueRequest(queue=queue, messages=messages)
        body = await self._call(queue_path(worker), payload.model_dump())
        return QueueResult.model_validate_json(body)

    async def durable_objects(self, action: Literal["abort", "delete"]) -> None:
        """Every Durable Object instance of the stack aborted (its memory gone, its file
        closed), or also its storage deleted and its alarms cancelled."""
        await self._call(durable_objects_path(action), {})

    async def fetch(
        self, worker: str, method: str, path: str, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """A request to `worker`'s default entrypoint, past its port and any assets."""
        return await self.request(method, fetch_path(worker, path), body)
