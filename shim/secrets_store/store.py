"""One Secrets Store as the shim serves it: the handle on its file (shim/secrets_store/vault.py)
and the binding's one request, `GET /secrets/<name>`, answered with the secret's nonce and
sealed value for the Worker to decrypt."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from urllib.parse import unquote

import apsw
import orjson

from groundflare.shim.http import json_response
from groundflare.shim.messages import Request, Response
from groundflare.shim.secrets_store import vault
from groundflare.shim.snapshot import backup_into, restore_from

SNAPSHOT_FILE = "store.sqlite"


class SecretsStore:
    """The shim's handle on one store's file: it reads ciphertext, never a key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: apsw.Connection | None = None

    async def open(self) -> None:
        self.conn = await asyncio.to_thread(vault.open_store, self.path)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    async def snapshot(self, into: Path) -> None:
        assert self.conn is not None
        await asyncio.to_thread(backup_into, self.conn, into / SNAPSHOT_FILE)

    async def restore(self, source: Path) -> None:
        assert self.conn is not None
        await asyncio.to_thread(restore_from, self.conn, source / SNAPSHOT_FILE)


async def handle(store: SecretsStore, request: Request) -> Response:
    name = unquote(request.path.removeprefix("/secrets/"))
    if request.method != "GET" or not request.path.startswith("/secrets/") or store.conn is None:
        return Response(status=404, body=b"not part of the secrets store protocol")
    found = await asyncio.to_thread(vault.sealed, store.conn, name)
    if found is None:
        return Response(status=404, body=b"{}")
    nonce, value = found
    body = {"nonce": base64.b64encode(nonce).decode(), "value": base64.b64encode(value).decode()}
    return json_response(200, orjson.dumps(body))
