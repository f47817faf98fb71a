"""Small HTTP helpers shared by every product."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from groundflare.shim.messages import BodyTooLarge, Request, Response

M = TypeVar("M", bound=BaseModel)
# A binding call's JSON body: a few fields, never a value.
CALL_BODY_BYTES = 64 * 1024


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


def problem_text(exc: Exception) -> str:
    """What is wrong with a request body, in one line."""
    return validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)


async def call_body(request: Request, model: type[M]) -> M | Response:
    """A binding call's JSON body as `model`, or the 400 that says what is wrong with it."""
    try:
        return model.model_validate_json(await request.body.read(CALL_BODY_BYTES))
    except (BodyTooLarge, ValidationError) as exc:
        return Response(status=400, body=problem_text(exc).encode())
