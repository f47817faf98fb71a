"""The stack's one internal door into its Workers: how the supervisor, the shim and test
harnesses call `scheduled()`, `queue()` and `fetch()` on a Worker (docs/architecture.md).

An internal Worker (workerd_config/assets/door.js) holds a service binding to every
Worker of the stack and listens on a unix socket in the private `run/` folder; every
request carries the per-boot door token. `run/door.json` (0600) tells local tools of
the same user where the door is and its token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DOOR_HEADER = "x-groundflare-door"
DOOR_SOCKET_NAME = "groundflare-door"


class DoorAddress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    socket: Path
    token: str


def scheduled_path(worker: str) -> str:
    return f"/workers/{worker}/scheduled"


def queue_path(worker: str) -> str:
    return f"/workers/{worker}/queue"


def durable_objects_path(action: str) -> str:
    """`abort` every Durable Object instance of the stack, or `delete` their storage too."""
    return f"/durable-objects/{action}"


def fetch_path(worker: str, path: str) -> str:
    """`path` (with its query) as the Worker will see it, on its default entrypoint."""
    return f"/workers/{worker}/fetch{path if path.startswith('/') else '/' + path}"


class ScheduledRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str
    # Milliseconds since the epoch, as `controller.scheduledTime`.
    scheduled_time: int


class ScheduledResult(BaseModel):
    """What workerd's Fetcher.scheduled() answers."""

    model_config = ConfigDict(extra="allow")
    outcome: str
    noRetry: bool = False  # noqa: N815 (workerd's spelling)


# How a queue message's body was sent (`contentType`), and so how the Worker receives it.
QueueContentType = Literal["json", "text", "bytes", "v8"]


class QueueMessage(BaseModel):
    """One message of a batch. `body` is the JSON value (json), the string (text), or the
    bytes in base64 (bytes: the Worker gets a Uint8Array; v8: workerd deserializes them
    into the value that was sent, as production does)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    # Milliseconds since the epoch.
    timestamp: int
    body: Any
    attempts: int = 1
    content_type: QueueContentType = "json"


class QueueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: str
    messages: list[QueueMessage]


class QueueResult(BaseModel):
    """What workerd's Fetcher.queue() answers: the batch's fate and each message's."""

    model_config = ConfigDict(extra="allow")
    outcome: str
    ackAll: bool = False  # noqa: N815
    retryBatch: dict[str, Any] = {}  # noqa: N815
    explicitAcks: list[str] = []  # noqa: N815
    retryMessages: list[dict[str, Any]] = []  # noqa: N815
