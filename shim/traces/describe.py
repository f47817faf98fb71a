"""A binding call as a span: its operation and what it touched, read from the request and
answer the shim kept (shim/traces/calls.py). Runs when a trace claims the call, never on
the call's own path."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from groundflare.shim.traces.calls import Call
from groundflare.shim.traces.records import SpanRecord

# D1's meta fields a span keeps, as the binding's `meta` names them.
D1_META = ("duration", "rows_read", "rows_written", "changes", "last_row_id", "changed_db")


def span(call: Call, shared: bool) -> SpanRecord:
    if call.span is not None:
        found = call.span
        found.shared = shared
        return found
    describe = DESCRIBERS.get(call.kind, _other)
    name, attributes = describe(call)
    if not call.kept:
        # Newer calls' bytes took its place before its trace arrived: no SQL, key or meta.
        attributes["bytes_overwritten"] = True
    return SpanRecord(
        name=name,
        resource=call.tag,
        started=call.started,
        duration_ms=round((call.ended - call.started) * 1000, 3),
        status=call.status,
        shared=shared,
        attributes=attributes,
    )


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _d1(call: Call) -> tuple[str, dict[str, Any]]:
    name = "d1.exec" if call.path == "/execute" else "d1.query"
    attributes: dict[str, Any] = {}
    sent = _loads(call.sent)
    queries = sent if isinstance(sent, list) else [sent] if isinstance(sent, dict) else []
    statements = [q.get("sql", "") for q in queries if isinstance(q, dict)]
    if statements:
        attributes["sql"] = statements[0] if len(statements) == 1 else statements
        params = [q.get("params") for q in queries if isinstance(q, dict)]
        if any(params):
            attributes["params"] = params[0] if len(params) == 1 else params
        if len(statements) > 1:
            name = "d1.batch"
    elif call.sent:
        # Larger than the peek: its start still says what it was.
        attributes["sql"] = call.sent.decode("utf-8", "replace") + "…"
    answer = _loads(call.answer) if call.answer else None
    if isinstance(answer, dict) and answer.get("error"):
        attributes["error"] = answer["error"]
    elif isinstance(answer, list):
        metas = [r.get("meta", {}) for r in answer if isinstance(r, dict)]
        if len(metas) == 1:
            # One statement (the common call): its meta as it is, without the batch's sums.
            meta = metas[0]
            attributes["meta"] = {key: _rounded(meta[key]) for key in D1_META if key in meta}
        elif metas:
            attributes["meta"] = {
                key: _total([m.get(key) for m in metas]) for key in D1_META if key in metas[-1]
            }
        rows = [r.get("results") for r in answer if isinstance(r, dict)]
        attributes["rows"] = sum(_rows(r) for r in rows)
    return name, attributes


def _total(values: list[Any]) -> Any:
    """Counts add up over a batch; the last statement's id and flag stand for it."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) == len(values) and values:
        return round(sum(numbers), 3)
    return values[-1]


def _rounded(value: Any) -> Any:
    """A duration to the microsecond, as a batch's sum is."""
    return round(value, 3) if isinstance(value, float) else value


def _rows(results: Any) -> int:
    if isinstance(results, dict):
        return len(results.get("rows") or [])
    return len(results) if isinstance(results, list) else 0


def _kv(call: Call) -> tuple[str, dict[str, Any]]:
    method, path = call.method, call.path
    query = dict(parse_qsl(call.query, keep_blank_values=True))
    if method == "GET" and path == "/":
        listed = {k: v for k, v in query.items() if k in ("prefix", "cursor", "limit")}
        return "kv.list", listed
    if method == "POST":
        return "kv.get", {"bulk": True}
    key = unquote(path[1:]) if query.get("urlencoded") == "true" else path[1:]
    attributes: dict[str, Any] = {"key": key}
    if method == "GET":
        return "kv.get", {**attributes, "found": call.status == 200}
    if method == "PUT":
        return "kv.put", attributes
    return f"kv.{method.lower()}", attributes


def _r2(call: Call) -> tuple[str, dict[str, Any]]:
    header = call.headers.get("cf-r2-request")
    if call.method == "GET" and header is not None:
        message = _loads(header.encode("latin-1")) or {}
    else:
        try:
            size = int(call.headers.get("cf-r2-metadata-size", "0"))
        except ValueError:
            size = 0
        message = _loads(call.sent[:size]) or {}
    method = str(message.get("method", call.method.lower()))
    attributes: dict[str, Any] = {}
    for field in ("object", "prefix", "delimiter", "cursor", "uploadId"):
        if message.get(field) is not None:
            attributes["key" if field == "object" else field] = message[field]
    if message.get("objects"):
        attributes["keys"] = message["objects"]
    written = _loads(call.answer) if call.method == "PUT" and call.answer else None
    if isinstance(written, dict) and "size" in written:
        attributes["size"] = written["size"]
    return f"r2.{method}", attributes


def _other(call: Call) -> tuple[str, dict[str, Any]]:
    return f"{call.kind}.{call.method.lower()}", {"path": call.path}


DESCRIBERS = {"d1": _d1, "kv": _kv, "r2": _r2}
