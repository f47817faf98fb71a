"""Key names from the raw request target (specs/kv.md A.3).

workerd percent-encodes the key into one path segment (`/` arrives as `%2F`, `+`
stays literal), so the key is the raw path after its leading `/`, decoded once
with `+` kept as is. Keys stay UTF-8 bytes from here on: the index orders them
as bytes and the limits count bytes.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from groundflare.shim import wtf8
from groundflare.shim.kv.rules import KvError

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def key_from_path(path: str, urlencoded: bool) -> bytes:
    """The key a single-key request names; 400 for escapes decodeURIComponent would reject."""
    # The server decodes the target as latin-1, so this recovers its exact bytes.
    raw = path[1:].encode("latin-1")
    if urlencoded and b"%" in raw:
        if _BAD_ESCAPE.search(raw):
            raise KvError(400, "Could not URL-decode key name")
        raw = unquote_to_bytes(raw)
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            # A lone surrogate from JavaScript arrives as WTF-8 (shim/wtf8.py).
            try:
                raw = wtf8.decode(raw).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise KvError(400, "Could not URL-decode key name") from exc
    return raw
