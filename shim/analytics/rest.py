"""The Analytics Engine's SQL API (`POST /accounts/ID/analytics_engine/sql`), as production
answers it: the query as the body, JSON out, no v4 envelope (shim/analytics/store.py)."""

from __future__ import annotations

import orjson

from groundflare.shim.analytics.kind import ENGINE
from groundflare.shim.analytics.store import AnalyticsStore, QueryError
from groundflare.shim.api.envelope import ApiError
from groundflare.shim.api.routes import ACCOUNT, Call, Route
from groundflare.shim.http import json_response
from groundflare.shim.messages import BodyTooLarge, Response

MAX_SQL_BYTES = 256 * 1024


async def sql(call: Call) -> Response:
    served = call.resources.served(ENGINE.kind, ENGINE.id)
    if served is None or not isinstance(served.resource, AnalyticsStore):
        raise ApiError(404, 7003, "no Analytics Engine dataset is bound in this stack")
    try:
        query = (await call.request.body.read(MAX_SQL_BYTES)).decode("utf-8")
        answer = await served.resource.query(query)
    except (BodyTooLarge, UnicodeDecodeError) as exc:
        return Response(status=400, body=f"cannot read the query: {exc}".encode())
    except QueryError as exc:
        return Response(status=422, body=str(exc).encode())
    return json_response(200, orjson.dumps(answer))


def routes() -> list[Route]:
    return [Route("POST", f"{ACCOUNT}/analytics_engine/sql", sql)]
