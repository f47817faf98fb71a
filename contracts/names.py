"""Resource names as file-name parts: readable when safe, encoded otherwise, never a path."""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"[A-Za-z0-9_-]")
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])$", re.IGNORECASE)
MAX_PART = 80


def file_part(name: str) -> str:
    """Percent-encode everything but [A-Za-z0-9_-]; `..`, `/`, NUL and device names included.

    Long names keep a readable prefix and end in a hash of the whole name, so
    two names never share a file.
    """
    encoded = "".join(
        ch if _SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
        for ch in name
    )
    if not encoded or _WINDOWS_DEVICES.match(encoded):
        encoded = "%" + encoded.encode("utf-8").hex()
    if len(encoded) > MAX_PART:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        encoded = f"{encoded[: MAX_PART - 17]}~{digest}"
    return encoded
