"""Durable Objects: namespaces, their objects with alarms, an object's SQLite tables and a
SQL console (read-only unless asked); through the v4 routes (`/workers/durable_objects/...`,
shim/durable_objects/rest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from groundflare.shim.explorer.pages.d1 import ident
from groundflare.shim.explorer.v4 import V4Error, segment
from groundflare.shim.explorer.web import PREFIX, Page, Refused
from groundflare.shim.messages import Response

NAMESPACES = "/workers/durable_objects/namespaces"
PAGE_ROWS = 50


def _alarm(millis: Any) -> str | None:
    if not isinstance(millis, int):
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _namespace(page: Page) -> dict[str, Any]:
    wanted = page.params["namespace"]
    for found in await page.v4.result("GET", NAMESPACES):
        if found["id"] == wanted:
            return dict(found)
    raise Refused(404, f"no Durable Object namespace {wanted}")


def _object_rest(page: Page) -> str:
    return (
        f"{NAMESPACES}/{segment(page.params['namespace'])}/objects/{segment(page.params['object'])}"
    )


async def _sql(page: Page, sql: str, write: bool = False) -> list[dict[str, Any]]:
    payload = {"sql": sql, "write": write}
    return list(await page.v4.result("POST", f"{_object_rest(page)}/query", None, payload))


async def namespaces(page: Page) -> Response:
    return page.render("do_namespaces.html", namespaces=await page.v4.result("GET", NAMESPACES))


async def objects(page: Page) -> Response:
    ns = await _namespace(page)
    listed = await page.v4.result("GET", f"{NAMESPACES}/{segment(ns['id'])}/objects")
    for found in listed:
        found["alarm_at"] = _alarm(found.get("alarm"))
    return page.render("do_objects.html", ns=ns, objects=listed)


async def object_page(page: Page) -> Response:
    ns = await _namespace(page)
    base = f"{PREFIX}/do/{segment(ns['id'])}/{segment(page.params['object'])}"
    sql = page.query.get("sql", "")
    write = False
    results: list[dict[str, Any]] = []
    error = None
    if page.request.method == "POST":
        form = await page.form()
        sql, write = form.get("sql", ""), form.get("write") == "on"
        if sql.strip():
            try:
                results = await _sql(page, sql, write)
            except V4Error as exc:
                error = exc.message
    tables = (
        await _sql(
            page,
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
    )[0]["results"]
    shown = page.query.get("table")
    rows: list[dict[str, Any]] = []
    if shown is not None and shown in [t["name"] for t in tables]:
        rows = (await _sql(page, f"SELECT * FROM {ident(shown)} LIMIT {PAGE_ROWS}"))[0]["results"]
    alarm = await page.v4.result("GET", f"{_object_rest(page)}/alarm")
    return page.render(
        "do_object.html",
        ns=ns,
        object_id=page.params["object"],
        base=base,
        tables=tables,
        shown=shown,
        columns=list(rows[0]) if rows else [],
        rows=[list(r.values()) for r in rows],
        sql=sql,
        write=write,
        results=[
            {
                "columns": list(r["results"][0]) if r["results"] else [],
                "rows": [list(row.values()) for row in r["results"]],
                "meta": r["meta"],
            }
            for r in results
        ],
        error=error,
        alarm=_alarm(alarm.get("scheduled_time")),
    )


ROUTES = [
    ("GET", "/do", namespaces),
    ("GET", "/do/{namespace}", objects),
    ("GET", "/do/{namespace}/{object}", object_page),
    ("POST", "/do/{namespace}/{object}", object_page),
]
