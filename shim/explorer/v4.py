"""The explorer's pages read and write data through the v4 API's own routes (shim/api/),
called in process: one API, whether a page renders on the server or a script in the page
calls `/client/v4/...` with the session cookie (docs/explorer.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from groundflare.shim.api.routes import V4_PREFIX
from groundflare.shim.messages import Body, Request, Response

# The account segment the explorer's calls carry: the local API accepts any id.
ACCOUNT = "local"
V4 = Callable[[Request], Awaitable[Response]]


class V4Error(Exception):
    """A v4 answer with `success: false`: its first error's code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _NoFlowControl:
    """An in-process body has no connection to pause."""

    def hold_reading(self, reason: int, hold: bool) -> None:
        pass


def fixed_request(
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Request:
    stream = Body(_NoFlowControl())
    if body:
        stream.feed(body)
    stream.finish()
    return Request(
        method=method,
        path=path,
        query_string=urlencode(query or {}),
        headers={"content-length": str(len(body)), **(headers or {})},
        body=stream,
    )


def segment(value: str) -> str:
    """One path segment, percent-encoded as the routes expect it."""
    return quote(value, safe="")


class V4Client:
    def __init__(self, call: V4, host: str) -> None:
        self._call = call
        # The listener's own authority: URLs the API hands out (exports) name it.
        self._host = host

    def path(self, rest: str) -> str:
        return f"{V4_PREFIX}/accounts/{ACCOUNT}{rest}"

    async def raw(
        self,
        method: str,
        rest: str,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Response:
        headers = {"host": self._host, **(headers or {})}
        return await self._call(fixed_request(method, self.path(rest), query, body, headers))

    async def envelope(
        self,
        method: str,
        rest: str,
        query: dict[str, str] | None = None,
        payload: Any = None,
        body: bytes = b"",
    ) -> dict[str, Any]:
        """The whole v4 envelope of a successful call; V4Error otherwise."""
        if payload is not None:
            body = orjson.dumps(payload)
        headers = {"content-type": "application/json"} if body else {}
        response = await self.raw(method, rest, query, body, headers)
        data = await read_all(response)
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise V4Error(response.status, 0, f"not a v4 answer ({response.status})") from exc
        if not document.get("success", False):
            errors = document.get("errors") or [{"code": 0, "message": "unknown error"}]
            raise V4Error(response.status, errors[0]["code"], errors[0]["message"])
        return dict(document)

    async def result(
        self,
        method: str,
        rest: str,
        query: dict[str, str] | None = None,
        payload: Any = None,
        body: bytes = b"",
    ) -> Any:
        return (await self.envelope(method, rest, query, payload, body))["result"]

    async def sql(self, database: str, sql: str, params: list[Any] | None = None) -> Any:
        """D1's `query`: one result per statement, each with `results` and `meta`."""
        payload: dict[str, Any] = {"sql": sql}
        if params:
            payload["params"] = params
        return await self.result("POST", f"/d1/database/{segment(database)}/query", None, payload)


async def read_all(response: Response, limit: int = 64 * 1024 * 1024) -> bytes:
    body = response.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    parts = []
    size = 0
    async for chunk in body:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
            raise V4Error(413, 0, f"larger than {limit} bytes")
    return b"".join(parts)
