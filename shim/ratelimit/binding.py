"""The rate limit binding's one request (workerd_config/assets/ratelimit.js): `POST /limit`
with the key and the binding's limit and period, answered `{"success": bool}`."""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from groundflare.shim.clock import Clock
from groundflare.shim.http import json_response, validation_summary
from groundflare.shim.messages import BodyTooLarge, Request, Response
from groundflare.shim.ratelimit.store import RateLimitStore


class LimitCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    limit: int = Field(gt=0)
    period: Literal[10, 60]


async def handle(store: RateLimitStore, clock: Clock, request: Request) -> Response:
    if request.method != "POST" or request.path != "/limit":
        return Response(status=404, body=b"not part of the rate limit protocol")
    try:
        call = LimitCall.model_validate_json(await request.body.read(64 * 1024))
    except (BodyTooLarge, ValidationError) as exc:
        detail = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)
        return Response(status=400, body=detail.encode())
    success = await store.hit(call.key, call.limit, call.period, clock.now())
    return json_response(200, orjson.dumps({"success": success}))
