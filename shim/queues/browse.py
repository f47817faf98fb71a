"""Queues' local v4 routes, for the explorer: a queue's messages listed without leasing them,
and dead-lettered messages put back on the queue they came from (docs/queues.md).

Production's only way to read messages is the pull consumer's `messages/pull`, which
leases what it returns: a page that looks must not change what a consumer gets.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from groundflare.contracts.queues import QUEUE_KIND
from groundflare.shim.api.envelope import ok
from groundflare.shim.api.routes import Call
from groundflare.shim.queues.store import NewMessage, QueueStore, Stored

MAX_LISTED = 1000
DEFAULT_LISTED = 100


class Requeue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # None: every dead-lettered message of the queue.
    message_ids: list[str] | None = Field(default=None, min_length=1)


def _store(call: Call, name: str) -> QueueStore | None:
    served = call.resources.served(QUEUE_KIND, name)
    return (
        served.resource if served is not None and isinstance(served.resource, QueueStore) else None
    )


def _body(listed: Stored) -> tuple[str, str]:
    """The body as text (json, text) or base64 (bytes, v8), and which."""
    if listed.content_type in ("json", "text"):
        return listed.body.decode("utf-8", "replace"), "text"
    return base64.b64encode(listed.body).decode("ascii"), "base64"


def describe(listed: Stored, leased: set[int], now: float) -> dict[str, Any]:
    body, encoding = _body(listed)
    if listed.seq in leased:
        state = "in_flight"
    else:
        state = "waiting" if listed.visible_at <= now else "delayed"
    return {
        "id": listed.id,
        "state": state,
        "content_type": listed.content_type,
        "body": body,
        "body_encoding": encoding,
        "size": len(listed.body),
        "attempts": listed.attempts,
        "timestamp_ms": listed.timestamp,
        "visible_at_ms": int(listed.visible_at * 1000),
        "dead_lettered_from": listed.origin,
    }


async def list_messages(store: QueueStore, limit: int, now: float) -> Any:
    """A queue's messages in delivery order (at most `limit`, 1 to 1,000), leasing none."""
    listed = await store.listed(max(min(limit, MAX_LISTED), 1))
    backlog = await store.backlog()
    leased = set(store.leased)
    info = {"count": len(listed), "total_count": backlog.messages, "in_flight": len(leased)}
    return ok([describe(m, leased, now) for m in listed], info)


async def requeue(call: Call, store: QueueStore, wanted: Requeue, now: float) -> Any:
    """Dead-lettered messages of this queue (`message_ids`, or all) back on the queues they
    came from, as new sends: same id and body, attempts 0, sent now, deliverable now. One
    being delivered to this queue's own consumer stays."""
    chosen = await store.dead_letters(
        None if wanted.message_ids is None else set(wanted.message_ids)
    )
    by_origin: dict[str, list[Stored]] = {}
    for listed in chosen:
        assert listed.origin is not None
        by_origin.setdefault(listed.origin, []).append(listed)
    moved = 0
    for origin, messages in by_origin.items():
        target = _store(call, origin)
        if target is None:
            continue
        sent_ms = int(now * 1000)
        fresh = [NewMessage(m.id, sent_ms, m.content_type, m.body, now) for m in messages]
        # Onto the first queue before it leaves this one: a crash duplicates, never loses.
        await target.send(fresh)
        await store.settle([], [], [m.seq for m in messages])
        moved += len(messages)
    return ok({"requeued": moved})
