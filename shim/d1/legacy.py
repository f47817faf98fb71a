"""Legacy HTTP D1 endpoints for controlplanes with a `D1_HTTP_URL` adapter.

POST /query {sql, params} -> {results, success, meta}
POST /batch {statements: [{sql, params}]} -> [{results, success, meta}, ...] (one transaction)
POST /exec {sql} -> {count, duration}

Values use the D1 binding's wire encoding both ways, so blobs are byte arrays
in and out (never strings).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, TypeAdapter, ValidationError

from groundflare.shim import wtf8
from groundflare.shim.d1 import statements
from groundflare.shim.d1.binding import (
    INLINE_BODY_BYTES,
    MAX_BODY_BYTES,
    OBJECTS,
    failure,
    prepare_all,
    result_element,
)
from groundflare.shim.d1.engine import NO_STATEMENTS_MESSAGE, Database, PreparedQuery, prepare
from groundflare.shim.d1.errors import D1Error
from groundflare.shim.d1.values import Query, dumps
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.messages import Request, Response


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    statements: list[Query]


class ExecBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sql: StrictStr


_QUERY = TypeAdapter(Query)
_BATCH = TypeAdapter(BatchBody)
_EXEC = TypeAdapter(ExecBody)


def _validated(adapter: TypeAdapter[Any], body: bytes) -> Any:
    try:
        return wtf8.validate_json(adapter, body)
    except ValidationError as exc:
        raise D1Error(f"Invalid request body: {validation_summary(exc)}", status=400) from exc


def _query(db: Database, body: bytes) -> Any:
    (result,) = db.run_queries(prepare_all([_validated(_QUERY, body)]))
    return result_element(result, OBJECTS)


def _batch(db: Database, body: bytes) -> Any:
    batch: BatchBody = _validated(_BATCH, body)
    if not batch.statements:
        return []
    results = db.run_queries(prepare_all(batch.statements))
    return [result_element(result, OBJECTS) for result in results]


def _exec(db: Database, body: bytes) -> Any:
    request: ExecBody = _validated(_EXEC, body)
    started = time.perf_counter()
    # A script: every statement of it, comments and blank parts skipped (not the binding's
    # one-query rule, which refuses a trailing comment).
    parts = [part for sql in statements.split(request.sql) if (part := prepare(sql, ()))]
    if not parts:
        raise D1Error(NO_STATEMENTS_MESSAGE, status=400)
    script = [sql for part in parts for sql in part.statements]
    prepared = PreparedQuery(statements=script, params=())
    db.run_queries([prepared])
    return {"count": len(prepared.statements), "duration": (time.perf_counter() - started) * 1000}


ROUTES = {"/query": _query, "/batch": _batch, "/exec": _exec}


def answer(db: Database, path: str, body: bytes) -> tuple[int, bytes]:
    try:
        return 200, dumps(ROUTES[path](db, body))
    except D1Error as exc:
        return (400 if exc.status == 500 else exc.status), failure(exc.message)


async def handle(db: Database, request: Request) -> Response:
    if request.path not in ROUTES:
        return json_response(404, failure(f"Not found: {request.path} (use /query, /batch, /exec)"))
    if request.method != "POST":
        return json_response(405, failure(f"Method {request.method} not allowed"))
    body = await request.body.read(MAX_BODY_BYTES)
    status, payload = await db.call(
        partial(answer, db, request.path, body), inline=len(body) <= INLINE_BODY_BYTES
    )
    return json_response(status, payload)
