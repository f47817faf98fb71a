"""Worker strings holding lone surrogates (`"a\\ud800b"`): JavaScript allows them, UTF-8 does not.

They reach the shim two ways: as `\\ud800` escapes in JSON a Worker's JSON.stringify wrote (the
D1 binding's body), which JSON.parse accepts but orjson and pydantic refuse, and as WTF-8 bytes
(the surrogate encoded like any other code point: ED A0 80) where workerd turned a JavaScript
string into bytes itself (a KV key's path, R2's request metadata). Both are accepted here. A
lone surrogate becomes three U+FFFD: what the Worker reads back on production, where workerd
stores its WTF-8 bytes and decodes them again one replacement per byte, and what workerd itself
sends where it cleans such text (a KV bulk get's keys). So the same string names the same key
whichever way it came. Only the slow path: valid UTF-8 JSON never comes here.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


# The three bytes of a surrogate's WTF-8, each decoded as U+FFFD (as TextDecoder and V8 do).
REPLACEMENT = "\ufffd" * 3


def decode(raw: bytes) -> str:
    """UTF-8 that may carry WTF-8 surrogates, each of those as REPLACEMENT; other invalid
    bytes still raise UnicodeDecodeError."""
    return _LONE_SURROGATE.sub(REPLACEMENT, raw.decode("utf-8", "surrogatepass"))


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    if isinstance(value, dict):
        return {_replaced(key): _replaced(item) for key, item in value.items()}
    return value


def loads(raw: bytes) -> Any:
    """JSON as JSON.parse reads it, lone surrogates (escaped or WTF-8) made REPLACEMENT.
    Raises ValueError for anything else JSON.parse would refuse."""
    try:
        text = decode(raw)
    except UnicodeDecodeError as exc:
        raise ValueError(str(exc)) from exc
    return _replaced(json.loads(text, parse_constant=_refuse))


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def validate_json(adapter: TypeAdapter[T], raw: bytes) -> T:
    """`adapter.validate_json(raw)`, except that JSON only JSON.parse accepts (lone surrogates)
    is read with `loads`; the original ValidationError stands for anything else."""
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        if not any(error["type"] == "json_invalid" for error in exc.errors()):
            raise
        try:
            value = loads(raw)
        except ValueError:
            raise exc from None
        return adapter.validate_python(value)
