"""The rate limit binding's one request (workerd_config/assets/ratelimit.js): `POST /limit`
with the key and the binding's limit and period, answered `{"success": bool}`."""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from groundflare.shim.clock import Clock
from groundflare.shim.http import call_body, json_response
from groundflare.shim.messages import Request, Response
from groundflare.shim.ratelimit.store import RateLimitStore


class LimitCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    limit: int = Field(gt=0)
    period: Literal[10, 60]


async def handle(store: RateLimitStore, clock: Clock, request: Request) -> Response:
    if request.method != "POST" or request.path != "/limit":
        return Response(status=404, body=b"not part of the rate limit protocol")
    call = await call_body(request, LimitCall)
    if isinstance(call, Response):
        return call
    success = await store.hit(call.key, call.limit, call.period, clock.now())
    return json_response(200, orjson.dumps({"success": success}))
