"""Values between the binding's JSON and SQLite (specs/d1-binding.md §3, §4)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    PlainValidator,
    StrictStr,
    Tag,
    TypeAdapter,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

SqlValue = int | float | str | bytes | None


def to_sqlite(value: Any) -> SqlValue:
    """A wire parameter as SQLite binds it.

    Integral numbers bind as INTEGER unless they leave int64 (JavaScript sent a
    double); number arrays are blobs with Uint8Array semantics (mod 256).
    """
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    if isinstance(value, list) and all(
        item is None or (isinstance(item, int | float) and not isinstance(item, bool))
        for item in value
    ):
        return bytes(int(item or 0) & 0xFF for item in value)
    raise ValueError("must be a number, a string, null, or an array of byte values")


Param = Annotated[SqlValue, PlainValidator(to_sqlite)]


class Query(BaseModel):
    """One statement object as workerd's d1-api sends it."""

    model_config = ConfigDict(extra="ignore")
    sql: StrictStr
    params: list[Param] | None = None


QueryBody = TypeAdapter(
    Annotated[
        Annotated[Query, Tag("statement")] | Annotated[list[Query], Tag("batch")],
        Discriminator(lambda value: "batch" if isinstance(value, list) else "statement"),
    ]
)


def _encode_other(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return list(bytes(value))
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    """JSON as the Worker's JSON.parse needs it: NaN/Infinity become null, blobs byte arrays."""
    return orjson.dumps(payload, default=_encode_other)
