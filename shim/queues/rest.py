"""Queues' v4 REST routes: list and get queues, and production's HTTP push API (send one
message, or a batch) onto the same store the Workers' bindings use; what a data CLI's
`queues send` needs. Locally a queue's id is its name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from groundflare.contracts.queues import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_DELAY_SECONDS,
    MAX_MESSAGE_BYTES,
    QUEUE_KIND,
)
from groundflare.shim.api.envelope import ApiError, ok
from groundflare.shim.api.routes import ACCOUNT, Call, Route
from groundflare.shim.catalogue import Entry
from groundflare.shim.http import validation_summary
from groundflare.shim.messages import BodyTooLarge
from groundflare.shim.queues import browse
from groundflare.shim.queues.binding import message_id
from groundflare.shim.queues.store import NewMessage, QueueStore

QUEUES = f"{ACCOUNT}/queues"
QUEUE = f"{QUEUES}/{{queue}}"
# Production's codes (queues/reference/error-codes).
QUEUE_NOT_FOUND = 10104
MESSAGE_TOO_LARGE = 10204
BATCH_TOO_LARGE = 10205
BATCH_TOO_MANY = 10206
BODY_INVALID = 10207
BODY_MALFORMED = 10208
MAX_REQUEST = 4 * MAX_BATCH_BYTES


M = TypeVar("M", bound=BaseModel)


class PushMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: Any
    content_type: Literal["json", "text"] = "json"
    delay_seconds: int = Field(default=0, ge=0, le=MAX_DELAY_SECONDS)


class PushBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[PushMessage] = Field(min_length=1)
    delay_seconds: int | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS)


def _describe(entry: Entry) -> dict[str, Any]:
    return {
        "queue_id": entry.spec.id,
        "queue_name": entry.spec.name or entry.spec.id,
        "created_on": entry.created_at,
        "modified_on": entry.created_at,
    }


def _queue(call: Call) -> tuple[Entry, QueueStore]:
    wanted = call.param("queue")
    for entry in call.resources.entries(QUEUE_KIND):
        if wanted in (entry.spec.id, entry.spec.name):
            served = call.resources.served(QUEUE_KIND, entry.spec.id)
            assert served is not None and isinstance(served.resource, QueueStore)
            return entry, served.resource
    raise ApiError(404, QUEUE_NOT_FOUND, "Queue does not exist")


async def _parsed(call: Call, model: type[M]) -> M:
    try:
        raw = await call.request.body.read(MAX_REQUEST)
    except BodyTooLarge as exc:
        raise ApiError(413, BATCH_TOO_LARGE, f"Batch size out of bounds: {exc}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, BODY_MALFORMED, "request body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, BODY_INVALID, validation_summary(exc)) from None


def _serialized(message: PushMessage) -> bytes:
    if message.content_type == "text":
        if not isinstance(message.body, str):
            raise ApiError(400, BODY_INVALID, 'a "text" message body must be a string')
        data = message.body.encode()
    else:
        data = orjson.dumps(message.body)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ApiError(
            413,
            MESSAGE_TOO_LARGE,
            f"Message size out of bounds: {len(data)} bytes exceeds the limit of "
            f"{MAX_MESSAGE_BYTES}",
        )
    return data


async def _push(store: QueueStore, call: Call, messages: list[tuple[PushMessage, int]]) -> None:
    clock_now = _now(call)
    ready = [
        NewMessage(
            message_id(),
            int(clock_now * 1000),
            message.content_type,
            _serialized(message),
            clock_now + delay,
        )
        for message, delay in messages
    ]
    total = sum(len(m.body) for m in ready)
    if total > MAX_BATCH_BYTES:
        raise ApiError(
            413,
            BATCH_TOO_LARGE,
            f"Batch size out of bounds: {total} bytes exceeds the limit of {MAX_BATCH_BYTES}",
        )
    await store.send(ready)


def _now(call: Call) -> float:
    """The shim's clock (tests move it), which the live resources carry."""
    clock = getattr(call.resources, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC).timestamp()


async def list_queues(call: Call) -> Any:
    entries = call.resources.entries(QUEUE_KIND)
    return ok([_describe(entry) for entry in entries])


async def get_queue(call: Call) -> Any:
    entry, store = _queue(call)
    backlog = await store.backlog()
    return ok(
        {
            **_describe(entry),
            "backlog_count": backlog.messages,
            # Local additions (the explorer's): being delivered; dead-lettered here, by origin.
            "in_flight_count": len(store.leased),
            "dead_lettered_from": await store.dead_lettered(),
        }
    )


async def send_message(call: Call) -> Any:
    _, store = _queue(call)
    message: PushMessage = await _parsed(call, PushMessage)
    await _push(store, call, [(message, message.delay_seconds)])
    return ok(None)


async def send_batch(call: Call) -> Any:
    _, store = _queue(call)
    batch: PushBatch = await _parsed(call, PushBatch)
    if len(batch.messages) > MAX_BATCH_MESSAGES:
        raise ApiError(
            413,
            BATCH_TOO_MANY,
            f"Batch count out of bounds: {len(batch.messages)} messages exceeds the limit of "
            f"{MAX_BATCH_MESSAGES}",
        )
    # A message's own delay wins over the batch's.
    default = batch.delay_seconds or 0
    await _push(store, call, [(m, m.delay_seconds or default) for m in batch.messages])
    return ok(None)


async def list_messages(call: Call) -> Any:
    """A queue's messages, none leased (a local addition for the explorer)."""
    _, store = _queue(call)
    try:
        limit = int(call.request.query.get("limit", browse.DEFAULT_LISTED))
    except ValueError:
        raise ApiError(400, BODY_INVALID, "limit must be a number") from None
    return await browse.list_messages(store, limit, _now(call))


async def requeue(call: Call) -> Any:
    """Dead-lettered messages back on their queues (a local addition for the explorer)."""
    _, store = _queue(call)
    wanted = await _parsed(call, browse.Requeue)
    return await browse.requeue(call, store, wanted, _now(call))


def routes() -> list[Route]:
    return [
        Route("GET", QUEUES, list_queues),
        Route("GET", QUEUE, get_queue),
        Route("GET", f"{QUEUE}/messages", list_messages),
        Route("POST", f"{QUEUE}/messages", send_message),
        Route("POST", f"{QUEUE}/messages/batch", send_batch),
        Route("POST", f"{QUEUE}/messages/requeue", requeue),
    ]
