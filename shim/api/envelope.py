"""Cloudflare's v4 envelope: `{success, errors: [{code, message}], messages, result,
result_info}`, and the one exception every route raises to answer with an error."""

from __future__ import annotations

from typing import Any

import orjson

from groundflare.shim.http import json_response
from groundflare.shim.messages import Response


class ApiError(Exception):
    """A v4 error: the HTTP status, Cloudflare's numeric code and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return envelope_error(self.status, self.code, self.message)


def _encode_other(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return list(bytes(value))
    raise TypeError(f"cannot encode {type(value).__name__}")


def ok(result: Any, result_info: dict[str, Any] | None = None, status: int = 200) -> Response:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return json_response(status, orjson.dumps(body, default=_encode_other))


def envelope_error(status: int, code: int, message: str) -> Response:
    body = {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }
    return json_response(status, orjson.dumps(body))


def bad_request(message: str, code: int = 10001) -> ApiError:
    return ApiError(400, code, message)


def page_info(page: int, per_page: int, count: int, total: int) -> dict[str, Any]:
    """result_info of a page-numbered list."""
    return {
        "page": page,
        "per_page": per_page,
        "count": count,
        "total_count": total,
        "total_pages": max(1, -(-total // per_page)),
    }


def paging(query: dict[str, str], default: int, largest: int) -> tuple[int, int]:
    """(page, per_page) from the query, checked; pages count from 1."""
    try:
        page = int(query.get("page", "1"))
        per_page = int(query.get("per_page", str(default)))
    except ValueError as exc:
        raise bad_request("page and per_page must be integers", 7003) from exc
    if page < 1 or not 1 <= per_page <= largest:
        raise bad_request(f"page must be >= 1 and per_page between 1 and {largest}")
    return page, per_page
