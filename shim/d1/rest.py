"""D1's v4 REST routes: databases (list, create, get by uuid or name, delete), `query` and
`raw`, and the import and export flows wrangler drives (docs/api.md).

Queries run on the database object the binding uses, through the same engine: results
and `meta` are the binding's, and a write is visible to the Workers at once.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from groundflare.shim.api.envelope import ApiError, ok, page_info, paging
from groundflare.shim.api.routes import ACCOUNT, Call, Route
from groundflare.shim.catalogue import Entry
from groundflare.shim.d1 import statements, transfers
from groundflare.shim.d1.binding import (
    INLINE_BODY_BYTES,
    MAX_BODY_BYTES,
    OBJECTS,
    ROWS_AND_COLUMNS,
    result_element,
)
from groundflare.shim.d1.engine import (
    NO_STATEMENTS_MESSAGE,
    Database,
    PreparedQuery,
    StatementResult,
    prepare,
)
from groundflare.shim.d1.errors import D1Error
from groundflare.shim.d1.values import Param, Query
from groundflare.shim.messages import Response

KIND = "d1"
DATABASES = f"{ACCOUNT}/d1/database"
DATABASE = f"{DATABASES}/{{database}}"
# Production's D1 error codes (the v4 `errors[].code` wrangler reads).
SQL_ERROR = 7500
NOT_FOUND = 7404
NAME_TAKEN = 7502
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TIME_TRAVEL_MESSAGE = (
    "Time Travel is not supported locally: groundflare keeps no history of a database's "
    "writes. Keep a copy with `wrangler d1 export --remote` (or `groundflare d1 export`)."
)


class NewDatabase(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(pattern=NAME_PATTERN)
    primary_location_hint: str | None = None


class QueryRequest(BaseModel):
    """`{sql, params}` or `{batch: [{sql, params}, ...]}`."""

    model_config = ConfigDict(extra="ignore")
    sql: StrictStr | None = None
    params: list[Param] | None = None
    batch: list[Query] | None = None


def database(call: Call) -> tuple[Entry, Database]:
    """The database a path names, by uuid or (as wrangler looks it up) by name."""
    wanted = call.param("database")
    for entry in call.resources.entries(KIND):
        if wanted in (entry.spec.id, entry.spec.name):
            served = call.resources.served(KIND, entry.spec.id)
            assert served is not None and isinstance(served.resource, Database)
            return entry, served.resource
    raise ApiError(404, NOT_FOUND, f"The database {wanted} could not be found")


def _info(db: Database) -> tuple[int, int]:
    with db.trusted() as execute:
        ((tables,),) = execute(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'"
        )
        ((pages,),) = execute("PRAGMA page_count")
        ((page_size,),) = execute("PRAGMA page_size")
    return int(tables), int(pages) * int(page_size)


async def describe(entry: Entry, db: Database) -> dict[str, Any]:
    tables, size = await db.call(partial(_info, db))
    return {
        "uuid": entry.spec.id,
        "name": entry.spec.name,
        "created_at": entry.created_at,
        "version": "production",
        "num_tables": tables,
        "file_size": size,
    }


async def list_databases(call: Call) -> Response:
    query = call.request.query
    page, per_page = paging(query, default=1000, largest=10_000)
    name = query.get("name")
    entries = [e for e in call.resources.entries(KIND) if not name or name in e.spec.name]
    chosen = entries[(page - 1) * per_page : page * per_page]
    found = []
    for entry in chosen:
        served = call.resources.served(KIND, entry.spec.id)
        assert served is not None and isinstance(served.resource, Database)
        found.append(await describe(entry, served.resource))
    return ok(found, page_info(page, per_page, len(found), len(entries)))


async def create_database(call: Call) -> Response:
    body = NewDatabase.model_validate_json(await call.request.body.read(64 * 1024))
    if any(entry.spec.name == body.name for entry in call.resources.entries(KIND)):
        raise ApiError(400, NAME_TAKEN, "A database with that name already exists")
    entry = await call.resources.create(KIND, str(uuid.uuid4()), body.name)
    served = call.resources.served(KIND, entry.spec.id)
    assert served is not None and isinstance(served.resource, Database)
    return ok(await describe(entry, served.resource))


async def get_database(call: Call) -> Response:
    entry, db = database(call)
    return ok(await describe(entry, db))


async def delete_database(call: Call) -> Response:
    entry, _ = database(call)
    await call.resources.drop(KIND, entry.spec.id)
    return ok(None)


def _prepared(body: QueryRequest) -> list[PreparedQuery]:
    """One query per statement: the API answers each statement of `sql` with its own result.
    `params` bind to the last statement (the binding's rule for several in one query)."""
    if body.batch is not None:
        queries = body.batch
    elif body.sql is not None:
        queries = [Query(sql=body.sql, params=body.params)]
    else:
        raise ApiError(400, SQL_ERROR, "A request needs `sql` or `batch`")
    prepared: list[PreparedQuery] = []
    for query in queries:
        parts = statements.split(query.sql)
        for index, sql in enumerate(parts):
            params = tuple(query.params or ()) if index == len(parts) - 1 else ()
            statement = prepare(sql, params)
            if statement is not None:
                prepared.append(statement)
    if not prepared:
        raise ApiError(400, SQL_ERROR, NO_STATEMENTS_MESSAGE)
    return prepared


def _run(db: Database, queries: list[PreparedQuery]) -> list[StatementResult] | D1Error:
    try:
        return db.run_queries(queries)
    except D1Error as exc:
        return exc


async def _execute(call: Call, results_format: str) -> Response:
    _, db = database(call)
    raw = await call.request.body.read(MAX_BODY_BYTES)
    try:
        queries = _prepared(QueryRequest.model_validate_json(raw))
    except D1Error as exc:
        raise ApiError(400, SQL_ERROR, exc.message) from exc
    key = tuple(q.statements[0] for q in queries)
    outcome = await db.call(
        partial(_run, db, queries), inline=len(raw) <= INLINE_BODY_BYTES, key=key
    )
    if isinstance(outcome, D1Error):
        raise ApiError(400, SQL_ERROR, outcome.message)
    return ok([result_element(result, results_format) for result in outcome])


async def query(call: Call) -> Response:
    return await _execute(call, OBJECTS)


async def raw(call: Call) -> Response:
    return await _execute(call, ROWS_AND_COLUMNS)


async def time_travel(call: Call) -> Response:
    database(call)
    raise ApiError(400, SQL_ERROR, TIME_TRAVEL_MESSAGE)


async def import_(call: Call) -> Response:
    entry, db = database(call)
    return await transfers.import_action(call, entry, db)


async def export(call: Call) -> Response:
    entry, db = database(call)
    return await transfers.export_action(call, entry, db)


async def upload(call: Call) -> Response:
    entry, _ = database(call)
    return await transfers.upload(call, entry)


async def download(call: Call) -> Response:
    entry, _ = database(call)
    return await transfers.download(call, entry)


def routes() -> list[Route]:
    return [
        Route("GET", DATABASES, list_databases),
        Route("POST", DATABASES, create_database),
        Route("GET", DATABASE, get_database),
        Route("DELETE", DATABASE, delete_database),
        Route("POST", f"{DATABASE}/query", query),
        Route("POST", f"{DATABASE}/raw", raw),
        Route("POST", f"{DATABASE}/import", import_),
        Route("POST", f"{DATABASE}/export", export),
        Route("GET", f"{DATABASE}/time_travel/bookmark", time_travel),
        Route("POST", f"{DATABASE}/time_travel/restore", time_travel),
        # The URLs the import and export flows hand out (signed, no bearer token).
        Route("PUT", "/d1/{database}/{etag}", upload, signed=True),
        Route("GET", "/d1/{database}/exports/{file}", download, signed=True),
    ]
