"""The explorer's API described: a page, and the OpenAPI document itself."""

from __future__ import annotations

from groundflare.shim.explorer.openapi import document
from groundflare.shim.explorer.web import Page, json_page
from groundflare.shim.messages import Response


async def api_page(page: Page) -> Response:
    spec = document(page.stack.routes, page.origin)
    operations = [
        {"method": method.upper(), "path": path, "summary": op.get("summary", "")}
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    return page.render("api.html", operations=operations)


async def openapi_json(page: Page) -> Response:
    return json_page(document(page.stack.routes, page.origin))


ROUTES = [
    ("GET", "/api", api_page),
    ("GET", "/openapi.json", openapi_json),
]
