"""What every explorer page shares: the request as a page sees it, HTML responses with
their security headers, forms, redirects with a one-line notice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
import orjson

from groundflare.contracts.d1_migrations import MigrationsSource
from groundflare.contracts.shim_config import CronTrigger
from groundflare.shim.api.routes import Route
from groundflare.shim.door import Door
from groundflare.shim.explorer.auth import Session
from groundflare.shim.explorer.v4 import V4Client
from groundflare.shim.messages import Request, Response
from groundflare.shim.traces.recorder import Traces

PREFIX = "/explorer"
HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 26 * 1024 * 1024

# Scripts and styles from the explorer's own files only; data: images for KV previews.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it a browser sends `Origin: null` on its own forms.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["q"] = lambda value: quote(str(value), safe="")
_templates.filters["clock"] = lambda seconds: datetime.fromtimestamp(seconds, UTC).strftime(
    "%Y-%m-%d %H:%M:%S UTC"
)
_templates.filters["pretty"] = lambda value: orjson.dumps(
    value, option=orjson.OPT_INDENT_2, default=str
).decode()


class Refused(Exception):
    """A page's refusal: the status and the text the person sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Stack:
    """What the explorer knows of the running stack beyond its data."""

    data_dir: Path
    # Each Worker's name and the crons that fire its scheduled().
    workers: list[str]
    crons: list[CronTrigger]
    # The request log, when invocations are recorded.
    traces: Traces | None
    # The stack's door into its Workers (cron's "run now"); None without workerd.
    door: Door | None
    # The v4 routes the API serves (the OpenAPI document lists them).
    routes: list[Route] = field(default_factory=list)
    # Where the Workers keep their D1 migrations (none for a stopped data dir).
    migrations: list[MigrationsSource] = field(default_factory=list)


@dataclass
class Page:
    request: Request
    session: Session
    v4: V4Client
    origin: str
    stack: Stack
    params: dict[str, str] = field(default_factory=dict)
    _form: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    async def form(self) -> dict[str, str]:
        """The urlencoded form of a POST (checked for its CSRF token before the handler)."""
        if self._form is None:
            raw = await self.request.body.read(MAX_FORM_BYTES)
            self._form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return self._form

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        text = _templates.get_template(template).render(
            csrf=self.session.csrf,
            notice=self.query.get("notice"),
            problem=self.query.get("problem"),
            path=self.request.path,
            **context,
        )
        return html(status, text)


Handler = Callable[[Page], Awaitable[Response]]


def html(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status=status,
        body=text.encode("utf-8"),
        headers={"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS, **(headers or {})},
    )


def page_text(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(**context)


def redirect(location: str, notice: str | None = None, problem: str | None = None) -> Response:
    """303 to `location`, with a notice (or a problem) to show there."""
    extra = {k: v for k, v in (("notice", notice), ("problem", problem)) if v}
    if extra:
        joiner = "&" if "?" in location else "?"
        location = f"{location}{joiner}{urlencode(extra)}"
    return Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def json_page(value: Any, status: int = 200) -> Response:
    return Response(
        status=status,
        body=orjson.dumps(value, default=str),
        headers={"Content-Type": "application/json", **SECURITY_HEADERS},
    )
