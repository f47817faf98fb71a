"""workerd's queue producer protocol (src/workerd/api/queue.c++): `send()` is
`POST /message` (the serialized body; `X-Msg-Fmt`, `X-Msg-Delay-Secs`), `sendBatch()` is
`POST /batch` (JSON, bodies in base64; `CF-Queue-Batch-Count/-Bytes`, `CF-Queue-Largest-Msg`),
`metrics()` is `GET /metrics`. Both sends answer the backlog as JSON.

A refusal carries production's error code and cause in `CF-Queues-Error-Code/-Cause`
(the Worker reads "cause (code)" under `queue_expose_error_codes`, else "Queue send
failed: <reason>"), with the cause as the reason phrase too.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import Literal

import apsw
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from groundflare.contracts.queues import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_DELAY_SECONDS,
    MAX_MESSAGE_BYTES,
)
from groundflare.shim.clock import Clock
from groundflare.shim.http import json_response
from groundflare.shim.messages import BodyTooLarge, Request, Response
from groundflare.shim.queues.kind import DEFAULT_DELAY_HEADER
from groundflare.shim.queues.store import Backlog, NewMessage, QueueStore
from groundflare.shim.space import is_no_space

log = logging.getLogger("shim")

FORMAT_HEADER = "x-msg-fmt"
DELAY_HEADER = "x-msg-delay-secs"
CONTENT_TYPES = ("text", "json", "bytes", "v8")
# The /batch body: base64 bodies (4/3 of the bytes) and a little JSON around each.
MAX_BATCH_REQUEST = MAX_BATCH_BYTES * 2 + 64 * 1024


class QueueError(Exception):
    """A refused send, with production's error code (queues/reference/error-codes)."""

    def __init__(self, status: int, code: int, cause: str) -> None:
        super().__init__(cause)
        self.status = status
        self.code = code
        self.cause = cause


def _metadata_invalid(detail: str) -> QueueError:
    return QueueError(400, 10203, f"Invalid message metadata: {detail}")


class BatchEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    body: str
    contentType: Literal["text", "json", "bytes", "v8"] = "v8"  # noqa: N815 (workerd's name)
    delaySecs: int | None = None  # noqa: N815


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    messages: list[BatchEntry]


def message_id() -> str:
    return secrets.token_hex(16)


def _delay(value: int | str | None, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        delay = int(value)
    except ValueError:
        raise _metadata_invalid(f"delaySeconds {value!r} is not a whole number") from None
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise _metadata_invalid(
            f"delaySeconds {delay} is out of range (0 to {MAX_DELAY_SECONDS} seconds)"
        )
    return delay


def _content_type(value: str | None) -> str:
    if value is None:
        return "v8"
    if value not in CONTENT_TYPES:
        raise _metadata_invalid(
            f"content type {value!r} is not one of 'text', 'json', 'bytes' or 'v8'"
        )
    return value


def _too_large(size: int) -> QueueError:
    return QueueError(
        413,
        10204,
        f"Message size out of bounds: {size} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
    )


def _header_int(request: Request, name: str) -> int:
    try:
        return int(request.headers.get(name, "0"))
    except ValueError:
        return 0


async def _message(store: QueueStore, clock: Clock, request: Request) -> Backlog:
    content_type = _content_type(request.headers.get(FORMAT_HEADER))
    default = _delay(request.headers.get(DEFAULT_DELAY_HEADER))
    delay = _delay(request.headers.get(DELAY_HEADER), default)
    try:
        body = await request.body.read(MAX_MESSAGE_BYTES)
    except BodyTooLarge:
        raise _too_large(_header_int(request, "content-length")) from None
    now = clock.now()
    message = NewMessage(message_id(), int(now * 1000), content_type, body, now + delay)
    return await store.send([message])


def _check_batch_headers(request: Request) -> None:
    count = _header_int(request, "cf-queue-batch-count")
    if count > MAX_BATCH_MESSAGES:
        raise QueueError(
            413,
            10206,
            f"Batch count out of bounds: {count} messages exceeds the limit of "
            f"{MAX_BATCH_MESSAGES}",
        )
    largest = _header_int(request, "cf-queue-largest-msg")
    if largest > MAX_MESSAGE_BYTES:
        raise _too_large(largest)
    total = _header_int(request, "cf-queue-batch-bytes")
    if total > MAX_BATCH_BYTES:
        raise QueueError(
            413,
            10205,
            f"Batch size out of bounds: {total} bytes exceeds the limit of {MAX_BATCH_BYTES}",
        )


async def _batch(store: QueueStore, clock: Clock, request: Request) -> Backlog:
    _check_batch_headers(request)
    default = _delay(request.headers.get(DEFAULT_DELAY_HEADER))
    batch_delay = _delay(request.headers.get(DELAY_HEADER), default)
    try:
        parsed = BatchRequest.model_validate_json(await request.body.read(MAX_BATCH_REQUEST))
    except (BodyTooLarge, ValidationError) as exc:
        raise QueueError(400, 10207, f"Invalid batch request: {exc}") from None
    now = clock.now()
    messages = []
    for entry in parsed.messages:
        try:
            body = base64.b64decode(entry.body, validate=True)
        except binascii.Error:
            raise QueueError(400, 10207, "Invalid batch request: a body is not base64") from None
        if len(body) > MAX_MESSAGE_BYTES:
            raise _too_large(len(body))
        delay = batch_delay if entry.delaySecs is None else _delay(entry.delaySecs)
        messages.append(
            NewMessage(message_id(), int(now * 1000), entry.contentType, body, now + delay)
        )
    if not messages:
        raise QueueError(400, 10207, "Invalid batch request: no messages")
    return await store.send(messages)


def _metrics(backlog: Backlog) -> dict[str, int]:
    return {
        "backlogCount": backlog.messages,
        "backlogBytes": backlog.size,
        "oldestMessageTimestamp": backlog.oldest,
    }


def failure(error: QueueError) -> Response:
    return Response(
        status=error.status,
        body=error.cause.encode(),
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "CF-Queues-Error-Code": str(error.code),
            "CF-Queues-Error-Cause": error.cause,
        },
        reason=error.cause,
    )


async def handle(store: QueueStore, clock: Clock, request: Request) -> Response:
    try:
        if request.method == "POST" and request.path == "/message":
            backlog = await _message(store, clock, request)
        elif request.method == "POST" and request.path == "/batch":
            backlog = await _batch(store, clock, request)
        elif request.method == "GET" and request.path == "/metrics":
            return json_response(200, orjson.dumps(_metrics(await store.backlog())))
        else:
            raise QueueError(
                404, 15000, f"{request.method} {request.path} is not part of the queue protocol"
            )
    except QueueError as exc:
        return failure(exc)
    except apsw.BusyError:
        log.warning("queue %s: a send met a lock held too long", store.name)
        return failure(QueueError(500, 15000, "Unknown Internal Error: the queue is locked"))
    except (OSError, apsw.FullError) as exc:
        if not is_no_space(exc):
            raise
        return failure(
            QueueError(
                429,
                10251,
                "Queue storage limit exceeded: no space left on the disk holding this queue",
            )
        )
    body = {"metadata": {"metrics": _metrics(backlog)}}
    return json_response(200, orjson.dumps(body))
