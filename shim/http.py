"""Small HTTP helpers shared by every product."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from groundflare.shim.messages import Response


def json_response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status=status, body=body, headers={"Content-Type": "application/json", **(headers or {})}
    )


def validation_summary(exc: ValidationError) -> str:
    """One line naming each offending field, without echoing large inputs back."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
