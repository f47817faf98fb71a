"""workerd's d1-api fetcher protocol: POST /query, /execute, /dump (specs/d1-binding.md)."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from pydantic import ValidationError

from groundflare.shim import wtf8
from groundflare.shim.d1.engine import (
    NO_STATEMENTS_MESSAGE,
    Database,
    PreparedQuery,
    StatementResult,
    prepare,
)
from groundflare.shim.d1.errors import D1Error
from groundflare.shim.d1.values import INT64_MAX, INT64_MIN, Query, QueryBody, SqlValue, dumps
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.messages import Request, Response

BOOKMARK_HEADER = "x-cf-d1-session-commit-token"
ROWS_AND_COLUMNS = "ROWS_AND_COLUMNS"
OBJECTS = "ARRAY_OF_OBJECTS"
RESULTS_FORMATS = frozenset({OBJECTS, ROWS_AND_COLUMNS, "NONE"})
# At most 1,000 statements of at most 100 KB each, plus JSON framing.
MAX_BODY_BYTES = 128 * 1024 * 1024
# Larger bodies are parsed on the database's thread, not the event loop.
INLINE_BODY_BYTES = 64 * 1024
DUMP_GONE = "dump() is not supported by D1 databases; export with `wrangler d1 export`"


def failure(message: str) -> bytes:
    """A failure is one object, never an array: the binding inspects only element 0."""
    return dumps({"success": False, "error": message})


def parse_queries(body: bytes) -> list[PreparedQuery]:
    plain = read_plain(body)
    if plain is not None:
        return prepare_pairs(plain)
    try:
        parsed = wtf8.validate_json(QueryBody, body)
    except ValidationError as exc:
        raise D1Error(f"Invalid D1 request body: {validation_summary(exc)}", status=400) from exc
    return prepare_all(parsed if isinstance(parsed, list) else [parsed])


def read_plain(body: bytes) -> list[tuple[str, tuple[SqlValue, ...]]] | None:
    """The (sql, params) of a body whose every value binds as it is (strings, int64 integers,
    floats, nulls), read without pydantic (a third of a 1,000-statement batch's cost); None
    for anything else (blobs, booleans, big integers, lone surrogates, a malformed body),
    which the validating path reads or refuses with its own errors."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    plain: list[tuple[str, tuple[SqlValue, ...]]] = []
    for item in value if type(value) is list else [value]:
        if type(item) is not dict or type(sql := item.get("sql")) is not str:
            return None
        params = item.get("params")
        if params is None:
            plain.append((sql, ()))
            continue
        if type(params) is not list:
            return None
        for param in params:
            kind = type(param)
            if kind is int:
                if not INT64_MIN <= param <= INT64_MAX:
                    return None
            elif kind is not str and kind is not float and param is not None:
                return None
        plain.append((sql, tuple(params)))
    return plain


def prepare_pairs(queries: list[tuple[str, tuple[SqlValue, ...]]]) -> list[PreparedQuery]:
    """prepare_all's reading of (sql, params) pairs."""
    prepared = [
        statement for sql, params in queries if (statement := prepare(sql, params)) is not None
    ]
    if not prepared:
        raise D1Error(NO_STATEMENTS_MESSAGE)
    return prepared


def prepare_all(queries: list[Query]) -> list[PreparedQuery]:
    """The query objects to run, blank ones dropped (as Miniflare and production do)."""
    return prepare_pairs([(query.sql, tuple(query.params or ())) for query in queries])


def result_element(result: StatementResult, results_format: str) -> dict[str, Any]:
    if results_format == ROWS_AND_COLUMNS:
        results: Any = {"columns": result.columns, "rows": result.rows}
    else:
        # NONE still carries row objects: stmt.run() returns them (production's choice).
        results = result.objects()
    return {"success": True, "meta": result.meta, "results": results}


def answer(
    db: Database, queries: list[PreparedQuery] | bytes, results_format: str
) -> tuple[int, bytes, str]:
    """Parse (when given the body), execute, serialise: inline or on the database thread."""
    try:
        parsed = parse_queries(queries) if isinstance(queries, bytes) else queries
        results = db.run_queries(parsed)
        payload = dumps([result_element(result, results_format) for result in results])
        return 200, payload, db.bookmark()
    except D1Error as exc:
        return exc.status, failure(exc.message), db.bookmark()


async def handle(db: Database, request: Request) -> Response:
    if request.method != "POST":
        return json_response(405, failure(f"Method {request.method} not allowed"))
    if request.path == "/dump":
        # Production's D1 refuses dump() (workerd's d1-api notes it); the Worker sees
        # `D1_DUMP_ERROR: Status + 404`, as on Miniflare.
        return json_response(404, dumps({"error": DUMP_GONE}))
    if request.path not in ("/query", "/execute"):
        return json_response(404, dumps({"error": "Not found"}))
    results_format = request.query.get("resultsFormat", "")
    if results_format not in RESULTS_FORMATS:
        results_format = OBJECTS
    body = await request.body.read(MAX_BODY_BYTES)
    if len(body) > INLINE_BODY_BYTES:
        work = partial(answer, db, body, results_format)
        status, payload, bookmark = await db.call(work, inline=False)
    else:
        try:
            queries = parse_queries(body)
        except D1Error as exc:
            headers = {BOOKMARK_HEADER: db.bookmark()}
            return json_response(exc.status, failure(exc.message), headers=headers)
        # The SQL names the work: one that overran the budget goes to the thread at once.
        key = tuple(sql for query in queries for sql in query.statements)
        work = partial(answer, db, queries, results_format)
        status, payload, bookmark = await db.call(work, key=key)
    return json_response(status, payload, headers={BOOKMARK_HEADER: bookmark})
