"""KV's limits, and the exact texts a Worker sees when a request breaks one.

workerd turns a failed call into `KV <OP> failed: <status> <reason phrase>`, so the
statuses and messages here are API: production's, as Miniflare reproduces them
(specs/kv.md A.6, A.8, A.9). Each message is sent as the reason phrase and as the body.
"""

from __future__ import annotations

import re

from groundflare.shim.kv.jsontext import is_json

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_EXPIRATION_TTL = 60
MIN_CACHE_TTL = 30
MAX_LIST_KEYS = 1000
MAX_BULK_KEYS = 100
MAX_BULK_BYTES = 25 * 1024 * 1024

_INTEGER = re.compile(r"-?[0-9]+")


class KvError(Exception):
    """A request KV refuses: `status` and `message` go back to the Worker verbatim."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _integer(raw: str) -> int | None:
    """workerd always sends plain decimal integers; anything else counts as NaN."""
    return int(raw) if _INTEGER.fullmatch(raw) else None


def check_key(key: bytes) -> None:
    if not key:
        raise KvError(400, "Key names must not be empty")
    if key in (b".", b".."):
        raise KvError(400, f'Illegal key name "{key.decode()}". Please use a different name.')
    check_key_length(key)


def check_key_length(key: bytes) -> None:
    if len(key) > MAX_KEY_BYTES:
        raise KvError(
            414,
            f"UTF-8 encoded length of {len(key)} exceeds key length limit of {MAX_KEY_BYTES}.",
        )


def check_cache_ttl(raw: str | None) -> None:
    """Validated as production does, then ignored: there is one cache location, this one."""
    if raw is None:
        return
    ttl = _integer(raw)
    if ttl is None or ttl < MIN_CACHE_TTL:
        raise KvError(
            400, f"Invalid cache_ttl of {raw}. Cache TTL must be at least {MIN_CACHE_TTL}."
        )


def expiration(raw_expiration: str | None, raw_ttl: str | None, now: int) -> int | None:
    """The absolute expiration (unix seconds) a put asks for; `expiration_ttl` wins."""
    if raw_ttl is not None:
        ttl = _integer(raw_ttl)
        if ttl is None or ttl <= 0:
            raise KvError(
                400,
                f"Invalid expiration_ttl of {raw_ttl}. Please specify integer greater than 0.",
            )
        if ttl < MIN_EXPIRATION_TTL:
            raise KvError(
                400,
                f"Invalid expiration_ttl of {raw_ttl}. "
                f"Expiration TTL must be at least {MIN_EXPIRATION_TTL}.",
            )
        return now + ttl
    if raw_expiration is not None:
        at = _integer(raw_expiration)
        if at is None or at <= now:
            raise KvError(
                400,
                f"Invalid expiration of {raw_expiration}. Please specify integer greater than "
                "the current number of seconds since the UNIX epoch.",
            )
        if at < now + MIN_EXPIRATION_TTL:
            raise KvError(
                400,
                f"Invalid expiration of {raw_expiration}. Expiration times must be at least "
                f"{MIN_EXPIRATION_TTL} seconds in the future.",
            )
        return at
    return None


def metadata(header: str) -> str:
    """The metadata JSON text from its header (latin-1 decoded by the server; the Worker's
    JSON.stringify leaves non-ASCII as raw UTF-8, so the bytes are recovered first)."""
    raw = header.encode("latin-1")
    if len(raw) > MAX_METADATA_BYTES:
        raise KvError(413, f"Metadata length of {len(raw)} exceeds limit of {MAX_METADATA_BYTES}.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""  # not JSON either
    if not is_json(text):
        raise KvError(400, "Metadata must be valid UTF-8 JSON.")
    return text


def value_too_large(length: int) -> KvError:
    return KvError(413, f"Value length of {length} exceeds limit of {MAX_VALUE_BYTES}.")


def list_limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIST_KEYS
    limit = _integer(raw)
    if limit is None or limit < 1:
        raise KvError(
            400, f"Invalid key_count_limit of {raw}. Please specify an integer greater than 0."
        )
    if limit > MAX_LIST_KEYS:
        raise KvError(
            400,
            f"Invalid key_count_limit of {raw}. "
            f"Please specify an integer less than {MAX_LIST_KEYS}.",
        )
    return limit
