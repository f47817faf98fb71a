"""Recording invocations: what the tail Worker posts (workerd_config/assets/tail.js), turned
into the store's records with their binding calls as spans, then announced to the live
tail.

workerd's classic tail event (a TraceItem) says what the invocation was, when it began,
its outcome, console lines and exceptions; it arrives once the invocation and its
waitUntil() work are done, so its arrival closes the invocation's time window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import orjson

from groundflare.contracts.traces import WORKER_HEADER, TraceSettings, durable_object_tag
from groundflare.shim.http import json_response
from groundflare.shim.messages import Request, Response
from groundflare.shim.traces.calls import CallLog
from groundflare.shim.traces.describe import span
from groundflare.shim.traces.records import InvocationRecord, LogRecord, SpanRecord
from groundflare.shim.traces.sourcemap import SourceMaps
from groundflare.shim.traces.store import TraceStore
from groundflare.workerd_config.outbound import OUTBOUND_SERVICE

log = logging.getLogger("shim")

MAX_TRACE_BYTES = 32 * 1024 * 1024
# An invocation keeps its first binding calls as spans; the rest are counted. Describing
# and storing a span costs ~16 µs of the shim's time after the invocation: a bound keeps a
# loop of thousands of calls from delaying the calls of the requests after it.
MAX_SPANS = 256
# Subrequests (through the stack's outbound Worker) can come from any Worker.
FETCH_TAG = "fetch:outbound"
LIVE_QUEUE = 256


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


def _message(parts: Any) -> str:
    if isinstance(parts, list):
        return " ".join(_text(part) for part in parts)
    return _text(parts)


def _seconds(value: Any, default: float) -> float:
    return value / 1000 if isinstance(value, int | float) and value > 0 else default


def _report_exceptions(record: InvocationRecord) -> None:
    """Each uncaught exception on the terminal with its stack, as `wrangler dev` shows it:
    workerd itself prints only the message (its stack is a --verbose info line)."""
    for line in record.logs:
        if line.level == "exception":
            stack = f"\n{line.stack}" if line.stack else ""
            log.error("%s: uncaught %s%s", record.worker, line.message, stack)


def describe_event(record: InvocationRecord, event: dict[str, Any]) -> None:
    """The invocation's type and trigger from workerd's event info."""
    if "request" in event:
        request = event.get("request") or {}
        record.type = "fetch"
        record.method = request.get("method")
        record.url = request.get("url")
        response = event.get("response")
        record.status = response.get("status") if isinstance(response, dict) else None
    elif "cron" in event:
        record.type, record.trigger = "scheduled", event.get("cron") or ""
    elif "queue" in event:
        record.type, record.trigger = "queue", event.get("queue")
    elif "mailFrom" in event:
        record.type, record.trigger = "email", event.get("rcptTo")
    elif "getWebSocketEvent" in event:
        info = event.get("getWebSocketEvent") or {}
        record.type, record.trigger = "websocket", info.get("webSocketEventType")
    elif "scheduledTime" in event:
        record.type = "alarm"
    elif "rpcMethod" in event:
        record.type, record.trigger = "rpc", event.get("rpcMethod")


class Traces:
    """The store, the recent binding calls, and the live tail's listeners."""

    def __init__(self, settings: TraceSettings, data_dir: Path) -> None:
        self.store = TraceStore(data_dir, settings.retention)
        self.calls = CallLog()
        self._workers = {w.name: w for w in settings.workers}
        self._tags = {w.name: frozenset([*w.resources, FETCH_TAG]) for w in settings.workers}
        self._maps = SourceMaps()
        self._listeners: set[asyncio.Queue[int]] = set()

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    # ---- the tail Worker's posts ----

    async def receive(self, request: Request) -> Response:
        arrived = time.time()
        worker = request.headers.get(WORKER_HEADER, "")
        try:
            items = orjson.loads(await request.body.read(MAX_TRACE_BYTES))
        except orjson.JSONDecodeError as exc:
            return json_response(400, orjson.dumps({"error": f"not JSON: {exc}"}))
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            if worker == OUTBOUND_SERVICE:
                self._subrequest(item, arrived)
                continue
            record = self.record(worker, item, arrived)
            _report_exceptions(record)
            # Claimable at once: its caller's trace may be arriving right behind it.
            called = (
                self._object_call(record) if record.execution_model == "durableObject" else None
            )
            try:
                record.id = await self.store.add(record)
            except Exception:
                log.exception("request log: cannot store an invocation of %s", worker)
                continue
            if called is not None:
                called.attributes["invocation"] = record.id
            self._announce(record.id)
        return Response(status=204)

    def record(self, worker: str, item: dict[str, Any], arrived: float) -> InvocationRecord:
        """One TraceItem as an invocation with its logs and its binding calls."""
        started = _seconds(item.get("eventTimestamp"), arrived)
        event = item.get("event") if isinstance(item.get("event"), dict) else {}
        assert isinstance(event, dict)
        record = InvocationRecord(
            worker=worker,
            type="other",
            started=started,
            ended=max(arrived, started),
            outcome=str(item.get("outcome") or "unknown"),
            execution_model=str(item.get("executionModel") or "stateless"),
            event=event,
        )
        describe_event(record, event)
        if item.get("entrypoint"):
            record.event = {**event, "entrypoint": item["entrypoint"]}
        modules = self._workers[worker].modules if worker in self._workers else {}
        for line in item.get("logs") or []:
            record.logs.append(
                LogRecord(
                    at=_seconds(line.get("timestamp"), started),
                    level=str(line.get("level", "log")),
                    message=_message(line.get("message")),
                )
            )
        for exc in item.get("exceptions") or []:
            stack = exc.get("stack")
            record.logs.append(
                LogRecord(
                    at=_seconds(exc.get("timestamp"), started),
                    level="exception",
                    message=f"{exc.get('name', 'Error')}: {exc.get('message', '')}",
                    stack=self._maps.stack(stack, {k: Path(v) for k, v in modules.items()})
                    if isinstance(stack, str)
                    else None,
                )
            )
        record.logs.sort(key=lambda line: line.at)
        tags = self._tags.get(worker, frozenset([FETCH_TAG]))
        claimed, dropped = self.calls.claim(tags, started, record.ended, MAX_SPANS)
        record.spans = [span(call, shared) for call, shared in claimed]
        record.spans_dropped = dropped
        return record

    def _subrequest(self, item: dict[str, Any], arrived: float) -> None:
        """A fetch() through the stack's outbound Worker: a span of whichever invocation
        made it, claimed like a binding call."""
        event = item.get("event") if isinstance(item.get("event"), dict) else {}
        assert isinstance(event, dict)
        request = event.get("request") or {}
        response = event.get("response")
        status = response.get("status", 0) if isinstance(response, dict) else 0
        started = _seconds(item.get("eventTimestamp"), arrived)
        url = str(request.get("url", ""))
        described = SpanRecord(
            name="fetch",
            resource=url,
            started=started,
            duration_ms=round(max(0.0, arrived - started) * 1000, 3),
            status=status,
            attributes={"method": request.get("method"), "outcome": item.get("outcome")},
        )
        self.calls.add(FETCH_TAG, started, arrived, status, described)

    def _object_call(self, record: InvocationRecord) -> SpanRecord:
        """A Durable Object's invocation: a span of whichever invocation called it."""
        class_name = str(record.event.get("entrypoint", ""))
        described = SpanRecord(
            name=f"do.{record.type}",
            resource=f"{record.worker}.{class_name}",
            started=record.started,
            duration_ms=round(record.duration_ms, 3),
            status=record.status or 0,
            attributes={
                "outcome": record.outcome,
                **({"url": record.url} if record.url else {}),
                **({"method": record.trigger} if record.type == "rpc" else {}),
            },
        )
        tag = durable_object_tag(record.worker, class_name)
        self.calls.add(tag, record.started, record.ended, record.status or 0, described)
        return described

    # ---- the live tail ----

    def listen(self) -> asyncio.Queue[int]:
        """New invocations' ids as they are stored, until `stop_listening`."""
        queue: asyncio.Queue[int] = asyncio.Queue(LIVE_QUEUE)
        self._listeners.add(queue)
        return queue

    def stop_listening(self, queue: asyncio.Queue[int]) -> None:
        self._listeners.discard(queue)

    def _announce(self, invocation: int) -> None:
        for queue in self._listeners:
            if not queue.full():
                queue.put_nowait(invocation)
