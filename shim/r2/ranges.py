"""Which bytes a get serves: the `range` object, or a `Range` header the Worker passed along.

Both resolve to (offset, length). An unsatisfiable `range` object is 416 /
10039; a header that is malformed, unsatisfiable or asks for several ranges
serves the whole object, as HTTP servers may (Miniflare's parseRanges rules).
"""

from __future__ import annotations

import re

from groundflare.shim.r2 import errors
from groundflare.shim.r2.messages import Range

_PREFIX = re.compile(r"^ *bytes *=", re.IGNORECASE)
_SPEC = re.compile(r"^ *(\d+)? *- *(\d+)? *$")


def resolve(size: int, range_: Range | None, header: str | None) -> tuple[int, int]:
    if header is not None:
        return from_header(header, size) or (0, size)
    if range_ is not None:
        return from_object(range_, size)
    return 0, size


def from_object(range_: Range, size: int) -> tuple[int, int]:
    """The bytes a `range` object names; none of an empty object's is satisfiable, whatever
    its form (offset, length or suffix), as Miniflare answers it."""
    if size == 0:
        raise errors.invalid_range()
    offset, length = range_.offset, range_.length
    if range_.suffix is not None:
        if range_.suffix == 0:
            raise errors.invalid_range()
        length = min(range_.suffix, size)
        offset = size - length
    offset = 0 if offset is None else offset
    length = size - offset if length is None else length
    if offset > size or length <= 0:
        raise errors.invalid_range()
    return offset, min(length, size - offset)


def from_header(header: str, size: int) -> tuple[int, int] | None:
    """The one satisfiable range the header names, else None (serve everything)."""
    prefix = _PREFIX.match(header)
    if prefix is None:
        return None
    found: list[tuple[int, int]] = []
    for part in header[prefix.end() :].split(","):
        match = _SPEC.match(part)
        if match is None:
            return None
        start, end = match.groups()
        if start is not None:
            first = int(start)
            last = size - 1 if end is None else min(int(end), size - 1)
            if first >= size or (end is not None and first > int(end)):
                return None
            found.append((first, last - first + 1))
        elif end is not None:
            suffix = int(end)
            if suffix >= size:
                return None
            if suffix:
                found.append((size - suffix, suffix))
        else:
            return None
    return found[0] if len(found) == 1 else None
