"""(in progress) workerd's R2 binding protocol."""

from __future__ import annotations

from shim.r2.store import R2Store
from shim.server import Request, Response


async def handle(store: R2Store, request: Request) -> Response:
    return Response(status=501, reason="Not Implemented", body=b"not implemented yet")
