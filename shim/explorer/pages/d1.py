"""D1: databases, tables with row counts and schema, a paged table view with sort and
filter, row edits, a SQL console with `meta` and history, exports, pending migrations
applied; all through the v4 routes (`/d1/database/...`)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import urlencode

from groundflare.contracts.d1_migrations import (
    MigrationsSource,
    applying_sql,
    migration_files,
    tracking_table_sql,
)
from groundflare.shim.explorer.v4 import V4Error, segment
from groundflare.shim.explorer.web import PREFIX, Page, Refused, redirect
from groundflare.shim.messages import Response

PAGE_ROWS = 50
HISTORY = 20
# Queries run in each database's console, newest first (per shim process).
_history: dict[str, deque[str]] = {}


def ident(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _db(page: Page) -> str:
    return page.params["database"]


def _base(page: Page) -> str:
    return f"{PREFIX}/d1/{segment(_db(page))}"


async def databases(page: Page) -> Response:
    found = await page.v4.result("GET", "/d1/database")
    return page.render("d1_databases.html", databases=found)


async def _tables(page: Page) -> list[dict[str, Any]]:
    schema = await page.v4.sql(
        _db(page),
        "SELECT name, type, sql FROM sqlite_schema WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
    )
    tables = schema[0]["results"]
    if tables:
        counts = " UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {ident(t['name'])}" for i, t in enumerate(tables)
        )
        for row in (await page.v4.sql(_db(page), counts))[0]["results"]:
            tables[row["i"]]["rows"] = row["n"]
    return list(tables)


async def database(page: Page) -> Response:
    info = await page.v4.result("GET", f"/d1/database/{segment(_db(page))}")
    return page.render(
        "d1_database.html",
        db=info,
        base=_base(page),
        tables=await _tables(page),
        migrations=[await _migrations(page, source) for source in _sources(page, info)],
    )


def _sources(page: Page, info: dict[str, Any]) -> list[MigrationsSource]:
    """The migrations folders the stack's Workers name for this database."""
    return [s for s in page.stack.migrations if s.database_id == info.get("uuid")]


async def _applied(page: Page, table: str) -> dict[str, str]:
    """The tracking table's rows (name -> applied_at); none before its first migration,
    which creates it: looking does not write."""
    exists = await page.v4.sql(
        _db(page), "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", [table]
    )
    if not exists[0]["results"]:
        return {}
    rows = await page.v4.sql(_db(page), f"SELECT name, applied_at FROM {ident(table)} ORDER BY id")
    return {row["name"]: row["applied_at"] for row in rows[0]["results"]}


async def _migrations(page: Page, source: MigrationsSource) -> dict[str, Any]:
    applied = await _applied(page, source.table)
    files = migration_files(source.folder)
    return {
        "folder": str(source.folder),
        "table": source.table,
        "files": [{"name": name, "applied_at": applied.get(name)} for name in files],
        "pending": [name for name in files if name not in applied],
    }


async def apply_migrations(page: Page) -> Response:
    """The pending migrations of one folder, in order, each with its tracking row in one
    query, as `groundflare d1 migrations apply` runs them; stops at the first that fails."""
    info = await page.v4.result("GET", f"/d1/database/{segment(_db(page))}")
    sources = _sources(page, info)
    choice = (await page.form()).get("source", "")
    if not choice.isdigit() or int(choice) >= len(sources):
        raise Refused(404, "no such migrations folder for this database")
    source = sources[int(choice)]
    await page.v4.sql(_db(page), tracking_table_sql(source.table))
    applied = await _applied(page, source.table)
    done: list[str] = []
    for name in migration_files(source.folder):
        if name in applied:
            continue
        before = f" ({len(done)} applied before it)" if done else ""
        try:
            sql = applying_sql(source.folder, name, source.table)
        except (OSError, UnicodeDecodeError) as exc:
            return redirect(_base(page), problem=f"{name} cannot be read{before}: {exc}")
        try:
            await page.v4.sql(_db(page), sql)
        except V4Error as exc:
            return redirect(_base(page), problem=f"{name} failed{before}: {exc.message}")
        done.append(name)
    if not done:
        return redirect(_base(page), notice="no migrations to apply")
    return redirect(_base(page), notice=f"{len(done)} migration(s) applied: {', '.join(done)}")


async def _columns(page: Page, table: str) -> list[dict[str, Any]]:
    found = await page.v4.sql(_db(page), f"PRAGMA table_info({ident(table)})")
    columns = found[0]["results"]
    if not columns:
        raise Refused(404, f"no table {table} in this database")
    return list(columns)


async def table(page: Page) -> Response:
    name = page.params["table"]
    columns = await _columns(page, name)
    names = [c["name"] for c in columns]
    query = page.query
    sort = query.get("sort") if query.get("sort") in names else None
    descending = query.get("dir") == "desc"
    column = query.get("column") if query.get("column") in names else None
    needle = query.get("filter", "")
    number = max(1, int(query.get("page", "1"))) if query.get("page", "1").isdigit() else 1
    where, params = "", []
    if column and needle:
        where, params = f" WHERE {ident(column)} LIKE ?", [f"%{needle}%"]
    order = f" ORDER BY {ident(sort)} {'DESC' if descending else 'ASC'}" if sort else ""
    limit = f" LIMIT {PAGE_ROWS + 1} OFFSET {(number - 1) * PAGE_ROWS}"
    sql = f"SELECT rowid AS _rowid_, * FROM {ident(name)}{where}{order}{limit}"
    try:
        rows = (await page.v4.sql(_db(page), sql, params))[0]["results"]
        editable = True
    except V4Error:
        # A view or a WITHOUT ROWID table: shown, not edited here (use the console).
        sql = f"SELECT * FROM {ident(name)}{where}{order}{limit}"
        rows = (await page.v4.sql(_db(page), sql, params))[0]["results"]
        editable = False
    keep = {k: v for k, v in query.items() if k in ("sort", "dir", "column", "filter") and v}
    return page.render(
        "d1_table.html",
        base=_base(page),
        database=_db(page),
        table=name,
        columns=columns,
        rows=rows[:PAGE_ROWS],
        editable=editable,
        sort=sort,
        descending=descending,
        column=column,
        needle=needle,
        number=number,
        more=len(rows) > PAGE_ROWS,
        keep=urlencode(keep),
        keep_filter=urlencode({k: v for k, v in keep.items() if k in ("column", "filter")}),
    )


def _values(form: dict[str, str], names: list[str]) -> dict[str, Any]:
    """The form's column values: `col.NAME` fields, NULL where `null.NAME` is ticked."""
    found: dict[str, Any] = {}
    for name in names:
        if f"null.{name}" in form:
            found[name] = None
        elif f"col.{name}" in form:
            found[name] = form[f"col.{name}"]
    return found


async def update_row(page: Page) -> Response:
    name, rowid = page.params["table"], page.params["rowid"]
    names = [c["name"] for c in await _columns(page, name)]
    values = _values(await page.form(), names)
    back = f"{_base(page)}/tables/{segment(name)}"
    if not values:
        return redirect(back, problem="nothing to change")
    sets = ", ".join(f"{ident(k)} = ?" for k in values)
    try:
        await page.v4.sql(
            _db(page),
            f"UPDATE {ident(name)} SET {sets} WHERE rowid = ?",
            [*values.values(), int(rowid)],
        )
    except V4Error as exc:
        return redirect(back, problem=exc.message)
    return redirect(back, notice=f"row {rowid} updated")


async def insert_row(page: Page) -> Response:
    name = page.params["table"]
    names = [c["name"] for c in await _columns(page, name)]
    form = await page.form()
    values = {k: v for k, v in _values(form, names).items() if v != "" or f"null.{k}" in form}
    back = f"{_base(page)}/tables/{segment(name)}"
    columns = ", ".join(ident(k) for k in values)
    marks = ", ".join("?" for _ in values)
    sql = (
        f"INSERT INTO {ident(name)} ({columns}) VALUES ({marks})"
        if values
        else f"INSERT INTO {ident(name)} DEFAULT VALUES"
    )
    try:
        await page.v4.sql(_db(page), sql, list(values.values()))
    except V4Error as exc:
        return redirect(back, problem=exc.message)
    return redirect(back, notice="row inserted")


async def delete_row(page: Page) -> Response:
    name, rowid = page.params["table"], page.params["rowid"]
    back = f"{_base(page)}/tables/{segment(name)}"
    try:
        await page.v4.sql(_db(page), f"DELETE FROM {ident(name)} WHERE rowid = ?", [int(rowid)])
    except V4Error as exc:
        return redirect(back, problem=exc.message)
    return redirect(back, notice=f"row {rowid} deleted")


async def console(page: Page) -> Response:
    database = _db(page)
    history = _history.setdefault(database, deque(maxlen=HISTORY))
    sql = page.query.get("sql", "")
    results: list[dict[str, Any]] = []
    error = None
    if page.request.method == "POST":
        sql = (await page.form()).get("sql", "")
        if sql.strip():
            if sql in history:
                history.remove(sql)
            history.appendleft(sql)
            try:
                raw = await page.v4.result(
                    "POST", f"/d1/database/{segment(database)}/raw", None, {"sql": sql}
                )
                results = [
                    {
                        "columns": r["results"]["columns"],
                        "rows": r["results"]["rows"],
                        "meta": r["meta"],
                    }
                    for r in raw
                ]
            except V4Error as exc:
                error = exc.message
    return page.render(
        "d1_console.html",
        base=_base(page),
        database=database,
        sql=sql,
        results=results,
        error=error,
        history=list(history),
    )


async def export(page: Page) -> Response:
    """The v4 export flow (start, poll until the dump is written), then its download URL."""
    form = await page.form()
    tables = [form["table"]] if form.get("table") else []
    rest = f"/d1/database/{segment(_db(page))}/export"
    payload: dict[str, Any] = {"output_format": "polling", "dump_options": {"tables": tables}}
    for _ in range(120):
        state = await page.v4.result("POST", rest, None, payload)
        if state.get("status") == "complete":
            return Response(status=303, headers={"Location": state["result"]["signed_url"]})
        if state.get("status") == "error":
            return redirect(_base(page), problem=state.get("error", "the export failed"))
        payload["current_bookmark"] = state.get("at_bookmark")
        await asyncio.sleep(0.05)
    return redirect(_base(page), problem="the export is still running; try again")


ROUTES = [
    ("GET", "/d1", databases),
    ("GET", "/d1/{database}", database),
    ("GET", "/d1/{database}/console", console),
    ("POST", "/d1/{database}/console", console),
    ("POST", "/d1/{database}/export", export),
    ("POST", "/d1/{database}/migrations", apply_migrations),
    ("GET", "/d1/{database}/tables/{table}", table),
    ("POST", "/d1/{database}/tables/{table}/insert", insert_row),
    ("POST", "/d1/{database}/tables/{table}/rows/{rowid}", update_row),
    ("POST", "/d1/{database}/tables/{table}/rows/{rowid}/delete", delete_row),
]
