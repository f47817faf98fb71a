"""Calling into a running stack's Workers through its door (contracts/door.py): for the CLI,
tests and scripts of the same user, who can read `run/door.json`."""

from __future__ import annotations

import http.client
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.door import (
    DOOR_HEADER,
    DoorAddress,
    QueueMessage,
    QueueRequest,
    QueueResult,
    ScheduledRequest,
    ScheduledResult,
    fetch_path,
    queue_path,
    scheduled_path,
)
from contracts.layout import DataDir

TIMEOUT_SECONDS = 60.0


class DoorError(Exception):
    """The door refused or the stack is not running; the message says which."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("door", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._path))


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

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = _UnixConnection(self.address.socket, self.timeout)
        try:
            conn.request(
                method,
                path,
                body=body,
                headers={**(headers or {}), DOOR_HEADER: self.address.token},
            )
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except OSError as exc:
            raise DoorError(f"the door at {self.address.socket} does not answer: {exc}") from exc
        finally:
            conn.close()

    def _call(self, path: str, payload: Any) -> bytes:
        status, _, body = self.request("POST", path, json.dumps(payload).encode())
        if status != 200:
            raise DoorError(f"{path}: {status} {body.decode('utf-8', 'replace')}")
        return body

    def scheduled(self, worker: str, cron: str, when: datetime | None = None) -> ScheduledResult:
        """Run `worker`'s scheduled() as a cron trigger firing at `when` (default: now)."""
        moment = when or datetime.now(UTC)
        payload = ScheduledRequest(cron=cron, scheduled_time=int(moment.timestamp() * 1000))
        return ScheduledResult.model_validate_json(
            self._call(scheduled_path(worker), payload.model_dump())
        )

    def queue(self, worker: str, queue: str, messages: list[QueueMessage]) -> QueueResult:
        """Deliver one batch to `worker`'s queue() handler."""
        payload = QueueRequest(queue=queue, messages=messages)
        return QueueResult.model_validate_json(
            self._call(queue_path(worker), payload.model_dump(mode="json"))
        )

    def fetch(
        self, worker: str, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """A request to `worker`'s default entrypoint, past its port and any assets."""
        return self.request(method, fetch_path(worker, path), body)
