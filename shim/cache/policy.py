"""What the Cache API stores and for how long, by production's rules
(developers.cloudflare.com/workers/runtime-apis/cache/, /cache/concepts/cache-control/):

- `Set-Cookie` is never cached, unless `Cache-Control: private=Set-Cookie`, which stores
  the response without that header;
- `no-store`, `private`, `no-cache` and a zero lifetime are not cached (`match()` never
  revalidates, so a must-revalidate response could never be served);
- the lifetime is `s-maxage`, else `max-age`, else `Expires` (against `Date`), else
  Cloudflare's default edge TTL for the status (200/206/301: 2 h, 302/303: 20 min,
  404/410: 3 min, anything else: not cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# Cloudflare's edge TTLs when a response says nothing (cache/how-to/configure-cache-status-code).
DEFAULT_EDGE_TTL = {200: 7200, 206: 7200, 301: 7200, 302: 1200, 303: 1200, 404: 180, 410: 180}
NOT_STORED = ("no-store", "no-cache")


@dataclass(frozen=True)
class Verdict:
    # Seconds the response stays fresh; None: not stored.
    ttl: float | None
    # The headers to store (without a private Set-Cookie).
    headers: list[tuple[str, str]]


def directives(value: str | None) -> dict[str, str]:
    """`Cache-Control` as {directive: argument}, names lowercased."""
    found: dict[str, str] = {}
    for part in (value or "").split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = argument.strip().strip('"')
    return found


def _seconds(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _date(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def judge(status: int, headers: list[tuple[str, str]], now: float) -> Verdict:
    named = {name.lower(): value for name, value in headers}
    cc = directives(named.get("cache-control"))
    private = cc.get("private")
    if private is not None and private.lower() == "set-cookie":
        headers = [(n, v) for n, v in headers if n.lower() != "set-cookie"]
        named.pop("set-cookie", None)
        private = None
    if "set-cookie" in named or private is not None or any(d in cc for d in NOT_STORED):
        return Verdict(None, headers)
    ttl: float | None = None
    for directive in ("s-maxage", "max-age"):
        if directive in cc:
            ttl = _seconds(cc[directive])
            break
    else:
        if "expires" in named:
            expires = _date(named["expires"])
            # An Expires that cannot be read means "already expired" (RFC 9111 5.3).
            ttl = None if expires is None else expires - (_date(named.get("date")) or now)
        else:
            ttl = DEFAULT_EDGE_TTL.get(status)
    if ttl is None or ttl <= 0:
        return Verdict(None, headers)
    return Verdict(ttl, headers)


def vary_names(headers: list[tuple[str, str]]) -> list[str]:
    """The request headers a stored response varies on, lowercased."""
    names = []
    for name, value in headers:
        if name.lower() == "vary":
            names += [part.strip().lower() for part in value.split(",") if part.strip()]
    return names


def etag_value(tag: str) -> str:
    """An entity tag without its weak prefix and quotes (If-None-Match compares weakly)."""
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def not_modified(request: dict[str, str], stored: dict[str, str]) -> bool:
    """Whether a conditional `match()` is answered 304 (If-None-Match, If-Modified-Since)."""
    condition = request.get("if-none-match")
    etag = stored.get("etag")
    if condition is not None and etag is not None:
        if condition.strip() == "*":
            return True
        return etag_value(etag) in {etag_value(part) for part in condition.split(",")}
    since, modified = _date(request.get("if-modified-since")), _date(stored.get("last-modified"))
    return since is not None and modified is not None and modified <= since


def byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """One `Range: bytes=...` as (first, last); None when absent or not one byte range;
    False when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                return False
            return max(size - length, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return False
    return start, min(end, size - 1)
