"""`list()`: `GET /?key_count_limit=&prefix=&cursor=` (specs/kv.md A.8).

A cursor is the base64 of the last key returned and the next page starts strictly
after it, as in Miniflare: keys put behind a cursor are not seen, keys put ahead are.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from groundflare.shim.http import json_response
from groundflare.shim.kv import rules
from groundflare.shim.kv.rules import KvError
from groundflare.shim.kv.store import KvStore
from groundflare.shim.messages import Request, Response


def encode_cursor(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_cursor(cursor: str | None) -> bytes | None:
    if not cursor:
        return None
    try:
        return base64.b64decode(cursor, validate=True)
    except binascii.Error as exc:
        raise KvError(400, f"Invalid cursor of {cursor}.") from exc


async def handle(store: KvStore, request: Request) -> Response:
    query = request.query
    limit = rules.list_limit(query.get("key_count_limit"))
    prefix = query.get("prefix", "").encode("utf-8")
    rules.check_key_length(prefix)
    after = decode_cursor(query.get("cursor"))
    rows, more = await store.list(prefix, after, limit)
    keys = []
    for key, expiration, metadata in rows:
        item: dict[str, Any] = {"name": key.decode("utf-8")}
        if expiration is not None:
            item["expiration"] = expiration
        if metadata is not None:
            # A JSON string the binding parses: stored metadata that is itself a string
            # (`metadata: "hi"`) would otherwise reach JSON.parse bare and throw.
            item["metadata"] = metadata
        keys.append(item)
    page: dict[str, Any] = {"keys": keys, "list_complete": not more}
    if more:
        page["cursor"] = encode_cursor(rows[-1].key)
    return json_response(200, orjson.dumps(page))
