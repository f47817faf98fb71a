"""`list()`: one page of keys in UTF-8 byte order, with prefixes folded at a delimiter.

The cursor is the base64 of the last key the page consumed (for a folded
prefix, the greatest key under it), so a page resumes "after" it exactly as
`startAfter` does. A page stops early rather than give workerd more than
1 MiB of metadata, which it refuses; production also returns short pages.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apsw
import orjson

from groundflare.shim.r2 import errors, rows
from groundflare.shim.r2.messages import ListObjects
from groundflare.shim.r2.objects import metadata

MAX_LIMIT = 1000
HTTP_METADATA, CUSTOM_METADATA = 0, 1
# workerd refuses response metadata over 1 MiB; keep clear of it.
PAGE_BYTES = 1_000_000
_LAST_CHAR = 0x10FFFF


@dataclass
class Page:
    objects: list[orjson.Fragment] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    size: int = 0
    last: str | None = None

    @property
    def count(self) -> int:
        return len(self.objects) + len(self.prefixes)


def decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.invalid_metadata() from exc


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (None: no such)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < _LAST_CHAR:
            following = last + 1 if last + 1 != 0xD800 else 0xE000
            return "".join(chars) + chr(following)
    return None


def _greatest_under(conn: apsw.Connection, prefix: str) -> str:
    upper = successor(prefix)
    args: tuple[str, ...]
    if upper is None:
        query, args = "SELECT max(key) FROM objects WHERE key >= ?", (prefix,)
    else:
        query, args = "SELECT max(key) FROM objects WHERE key >= ? AND key < ?", (prefix, upper)
    ((greatest,),) = conn.execute(query, args)
    return greatest


def _rows_from(conn: apsw.Connection, prefix: str, after: str) -> Iterator[Any]:
    """Rows with keys starting with `prefix` and after `after` (exclusive), in key order."""
    operator, bound = (">", after) if after >= prefix else (">=", prefix)
    cursor = conn.cursor()
    try:
        query = f"SELECT {rows.META_COLUMNS} FROM objects WHERE key {operator} ? ORDER BY key"
        for row in cursor.execute(query, (bound,)):
            if not row[0].startswith(prefix):
                return
            yield row
    finally:
        # An unfinished statement would pin the reader to an old snapshot.
        cursor.close()


def list_objects(conn: apsw.Connection, request: ListObjects) -> dict[str, Any]:
    limit = MAX_LIMIT if request.limit is None else request.limit
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.invalid_max_keys()
    include = request.include or []
    after = request.start_after
    if request.cursor:
        after = max(after, decode_cursor(request.cursor))
    page = Page()
    truncated = _fill(conn, request, limit, set(include), page, after)
    answer: dict[str, Any] = {
        "objects": page.objects,
        "truncated": truncated,
        "delimitedPrefixes": page.prefixes,
    }
    if truncated and page.last is not None:
        answer["cursor"] = base64.b64encode(page.last.encode("utf-8")).decode()
    return answer


def _fill(
    conn: apsw.Connection,
    request: ListObjects,
    limit: int,
    include: set[int],
    page: Page,
    after: str,
) -> bool:
    """Add items to `page` from `after` on; True when more remain."""
    prefix, delimiter = request.prefix, request.delimiter
    http, custom = HTTP_METADATA in include, CUSTOM_METADATA in include
    while True:
        for row in _rows_from(conn, prefix, after):
            key = row[0]
            folded = key.find(delimiter, len(prefix)) if delimiter else -1
            if folded >= 0:
                item = key[: folded + len(delimiter)]
                size = len(orjson.dumps(item))
            else:
                encoded = orjson.dumps(metadata(rows.record(row), http=http, custom=custom))
                size = len(encoded)
            if page.count == limit or (page.count and page.size + size > PAGE_BYTES):
                return True
            page.size += size + 1
            if folded < 0:
                page.objects.append(orjson.Fragment(encoded))
                page.last = key
                continue
            page.prefixes.append(item)
            page.last = after = _greatest_under(conn, item)
            break  # resume after the folded group
        else:
            return False
