"""The OpenAPI document of the explorer's API: the v4 routes it uses (the same ones wrangler
and the SDKs reach, shim/api/), and the few explorer routes v4 has no equivalent for."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from groundflare.shim.api.routes import V4_PREFIX, Route

ENVELOPE = {"$ref": "#/components/schemas/Envelope"}
EXPLORER_ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "post",
        "/explorer/api/traces/query",
        "Read-only SQL over the request log's tables: invocations, spans, logs.",
        {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["sql"],
                            "properties": {"sql": {"type": "string"}},
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "columns, rows (at most 1,000) and whether more were cut",
                    "content": {"application/json": {"schema": ENVELOPE}},
                },
                "400": {"description": "SQLite refused it, or it was not read-only"},
            },
        },
    ),
    (
        "get",
        "/explorer/log/stream",
        "The live tail: server-sent events, one `invocation` event (an HTML table row) per new "
        "invocation matching the filters worker, type, outcome and q.",
        {
            "parameters": [
                {"name": n, "in": "query", "schema": {"type": "string"}}
                for n in ("worker", "type", "outcome", "q", "after")
            ],
            "responses": {"200": {"description": "text/event-stream"}},
        },
    ),
    (
        "post",
        "/explorer/cron/run",
        "Run a cron trigger's scheduled() now, as the trigger would (form fields worker, cron).",
        {"responses": {"303": {"description": "back to the cron page, with the outcome"}}},
    ),
]


def _path(route: Route) -> str:
    return V4_PREFIX + re.sub(r"\{(\w+):path\}", r"{\1}", route.path)


def _summary(route: Route) -> str:
    handler = route.handler
    doc = getattr(handler, "__doc__", None) or ""
    name = getattr(handler, "__name__", "call").replace("_", " ")
    return doc.strip().splitlines()[0] if doc.strip() else name


def document(routes: Iterable[Route], server: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.signed:
            continue
        path = _path(route)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{(\w+)\}", path)
        ]
        paths.setdefault(path, {})[route.method.lower()] = {
            "summary": _summary(route),
            "parameters": parameters,
            "security": [{"bearer": []}, {"session": [], "csrf": []}],
            "responses": {
                "200": {
                    "description": "the v4 envelope (values and objects: their bytes)",
                    "content": {"application/json": {"schema": ENVELOPE}},
                },
                "4XX": {"description": "the v4 envelope with Cloudflare's error code"},
            },
        }
    for method, path, summary, extra in EXPLORER_ROUTES:
        paths.setdefault(path, {})[method] = {
            "summary": summary,
            "security": [{"session": [], "csrf": []}],
            **extra,
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "groundflare explorer API",
            "version": "1",
            "description": (
                "The local Cloudflare v4 API the explorer's pages use, and the explorer's own "
                "routes. A script in the explorer's pages uses its session cookie, and sends "
                "the page's CSRF token in X-CSRF-Token on every write; other clients send "
                "the install's API token as a bearer token (v4 routes only)."
            ),
        },
        "servers": [{"url": server}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "groundflare_explorer_<port>",
                },
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "properties": {
                        "success": {"type": "boolean"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "code": {"type": "integer"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                        "messages": {"type": "array"},
                        "result": {},
                        "result_info": {"type": "object"},
                    },
                }
            },
        },
    }
