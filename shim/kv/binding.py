"""(in progress) workerd's KV binding protocol."""

from __future__ import annotations

from shim.kv.store import KvStore
from shim.server import Request, Response


async def handle(store: KvStore, request: Request) -> Response:
    return Response(status=501, reason="Not Implemented", body=b"not implemented yet")
