"""Values between the binding's JSON and SQLite (specs/d1-binding.md §3, §4)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter
from pydantic import Field as _Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

BlobItem = StrictInt | StrictFloat | None
Param = StrictInt | StrictFloat | StrictBool | StrictStr | None | list[BlobItem]
SqlValue = int | float | str | bytes | None


class Query(BaseModel):
    """One statement object as workerd's d1-api sends it."""

    model_config = ConfigDict(extra="ignore")
    sql: StrictStr
    params: list[Param] | None = None


QueryBody = TypeAdapter(Annotated[Query | list[Query], _Field(union_mode="left_to_right")])


def to_sqlite(value: Any) -> SqlValue:
    """A wire parameter as SQLite should bind it.

    Integral numbers bind as INTEGER unless they leave int64 (JavaScript sent a
    double); number arrays are blobs with Uint8Array semantics.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    if isinstance(value, list):
        return bytes(int(item or 0) & 0xFF for item in value)
    return value


def _encode_other(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return list(bytes(value))
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    """JSON as the Worker's JSON.parse needs it: NaN/Infinity become null, blobs byte arrays."""
    return orjson.dumps(payload, default=_encode_other)
