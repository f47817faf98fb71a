"""The request log: recent invocations with filters and a live tail, one invocation with its
spans and logs, and read-only SQL over the log's tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from groundflare.shim.explorer.web import (
    SECURITY_HEADERS,
    Page,
    Refused,
    json_page,
    page_text,
)
from groundflare.shim.messages import Response
from groundflare.shim.traces.recorder import Traces
from groundflare.shim.traces.records import InvocationRecord
from groundflare.shim.traces.store import Filters, QueryError

TYPES = ("fetch", "scheduled", "queue", "alarm", "websocket", "email", "rpc", "other")
OUTCOMES = ("ok", "exception", "canceled", "exceededCpu", "exceededMemory", "unknown")
PAGE_ROWS = 100
# A comment line every so often keeps proxies and the listener's idle rules content.
HEARTBEAT_SECONDS = 15.0
EXAMPLE_SQL = (
    "SELECT i.worker, s.name, count(*) AS calls, round(avg(s.duration_ms), 3) AS avg_ms\n"
    "FROM spans s JOIN invocations i ON i.id = s.invocation\nGROUP BY 1, 2 ORDER BY calls DESC"
)


def traces_of(page: Page) -> Traces:
    if page.stack.traces is None:
        raise Refused(
            404,
            "the request log is off for this stack (serve --no-traces, or the profile's "
            "traces.enabled is false)",
        )
    return page.stack.traces


def filters_of(query: dict[str, str]) -> Filters:
    return Filters(
        worker=query.get("worker") or None,
        type=query.get("type") or None,
        outcome=query.get("outcome") or None,
        text=query.get("q") or None,
    )


def when(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def summary(record: InvocationRecord) -> str:
    """What the invocation was, in one line: `GET /path`, the cron, the queue."""
    if record.type == "fetch":
        return f"{record.method or ''} {record.url or ''}".strip()
    if record.trigger:
        return f"{record.type} {record.trigger}"
    return record.type


def row_context(record: InvocationRecord) -> dict[str, Any]:
    return {"r": record, "when": when(record.started), "summary": summary(record)}


async def log_page(page: Page) -> Response:
    traces = traces_of(page)
    filters = filters_of(page.query)
    before = page.query.get("before")
    records = await traces.store.recent(
        filters, PAGE_ROWS, before=int(before) if before and before.isdigit() else None
    )
    workers = sorted(set(page.stack.workers) | set(await traces.store.workers()))
    shown = {k: v for k, v in page.query.items() if k in ("worker", "type", "outcome", "q") and v}
    return page.render(
        "log.html",
        request_query=urlencode(shown),
        rows=[row_context(r) for r in records],
        filters=filters,
        workers=workers,
        types=TYPES,
        outcomes=OUTCOMES,
        newest=records[0].id if records else 0,
        oldest=records[-1].id if len(records) == PAGE_ROWS else None,
    )


async def stream(page: Page) -> Response:
    """Server-sent events: each new invocation that matches, as a rendered table row."""
    traces = traces_of(page)
    filters = filters_of(page.query)
    after = page.query.get("after", "0")
    return Response(
        body=_events(traces, filters, int(after) if after.isdigit() else 0),
        headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream"},
    )


async def _events(traces: Traces, filters: Filters, after: int) -> AsyncIterator[bytes]:
    queue = traces.listen()
    try:
        yield b": live\n\n"
        # What arrived between the page's rendering and this stream's start.
        for record in reversed(await traces.store.recent(filters, PAGE_ROWS, after=after)):
            after = max(after, record.id or 0)
            yield _event(record)
        while True:
            try:
                await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": still here\n\n"
                continue
            for record in reversed(await traces.store.recent(filters, PAGE_ROWS, after=after)):
                after = max(after, record.id or 0)
                yield _event(record)
    finally:
        traces.stop_listening(queue)


def _event(record: InvocationRecord) -> bytes:
    row = page_text("log_row.html", **row_context(record))
    data = "".join(f"data: {line}\n" for line in row.splitlines())
    return f"id: {record.id}\nevent: invocation\n{data}\n".encode()


def waterfall(record: InvocationRecord) -> list[dict[str, Any]]:
    """Each span's offset and width in per cent of the invocation's time."""
    total = max(record.duration_ms, 0.001)
    bars = []
    for span in record.spans:
        offset = max(0.0, (span.started - record.started) * 1000)
        bars.append(
            {
                "span": span,
                "x": min(100.0, offset / total * 100),
                "width": max(0.5, min(100.0, span.duration_ms / total * 100)),
                "offset_ms": round(offset, 3),
            }
        )
    return bars


async def invocation_page(page: Page) -> Response:
    traces = traces_of(page)
    ident = page.params["invocation"]
    record = await traces.store.get(int(ident)) if ident.isdigit() else None
    if record is None:
        raise Refused(404, f"no invocation {ident} in the log (it may have been pruned)")
    return page.render(
        "invocation.html",
        r=record,
        when=when(record.started),
        summary=summary(record),
        bars=waterfall(record),
        event=orjson.dumps(record.event, option=orjson.OPT_INDENT_2, default=str).decode(),
    )


async def sql_page(page: Page) -> Response:
    traces = traces_of(page)
    sql = (await page.form()).get("sql", "") if page.request.method == "POST" else ""
    columns: list[str] = []
    rows: list[list[Any]] = []
    truncated = False
    error = None
    if sql.strip():
        try:
            columns, rows, truncated = await traces.store.query(sql)
        except QueryError as exc:
            error = str(exc)
    return page.render(
        "log_sql.html",
        sql=sql or EXAMPLE_SQL,
        ran=bool(sql.strip()),
        columns=columns,
        rows=rows,
        truncated=truncated,
        error=error,
    )


async def query_api(page: Page) -> Response:
    """POST {"sql": "..."}: read-only SQL over invocations, spans and logs, as JSON."""
    traces = traces_of(page)
    try:
        body = orjson.loads(await page.request.body.read(1024 * 1024))
        sql = body["sql"]
        if not isinstance(sql, str):
            raise TypeError("sql must be a string")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        return json_page(_failure(400, f'expected {{"sql": "SELECT ..."}}: {exc}'), 400)
    try:
        columns, rows, truncated = await traces.store.query(sql)
    except QueryError as exc:
        return json_page(_failure(400, str(exc)), 400)
    result = {"columns": columns, "rows": rows, "truncated": truncated}
    return json_page({"success": True, "errors": [], "messages": [], "result": result})


def _failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "result": None}


ROUTES = [
    ("GET", "/log", log_page),
    ("GET", "/log/stream", stream),
    ("GET", "/log/sql", sql_page),
    ("POST", "/log/sql", sql_page),
    ("GET", "/log/{invocation}", invocation_page),
    ("POST", "/api/traces/query", query_api),
]
