"""`env.KV` from Python: the Worker's KV binding, run through the door (bindings.js)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Literal

from groundflare.bindings.channel import Channel

ValueType = Literal["text", "json", "arrayBuffer"]


def _options(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


class KvNamespace:
    def __init__(self, channel: Channel, worker: str, name: str) -> None:
        self._channel = channel
        self.worker = worker
        self.name = name

    def _call(self, operation: str, **args: Any) -> Any:
        return self._channel.call(self.worker, self.name, operation, args)

    def get(
        self, key: str | list[str], type: ValueType = "text", cache_ttl: int | None = None
    ) -> Any:
        """`get(key, {type})`: str for text, the parsed value for json, bytes for
        arrayBuffer; None when absent. A list of keys answers a dict, as the Map would."""
        return self._call("kv.get", **_options(key=key, type=type, cacheTtl=cache_ttl))

    def get_with_metadata(
        self, key: str | list[str], type: ValueType = "text", cache_ttl: int | None = None
    ) -> dict[str, Any]:
        """`getWithMetadata`: `{"value", "metadata", "cacheStatus"}`."""
        options = _options(key=key, type=type, cacheTtl=cache_ttl)
        result: dict[str, Any] = self._call("kv.get", withMetadata=True, **options)
        return result

    def put(
        self,
        key: str,
        value: str | bytes,
        *,
        expiration: int | None = None,
        expiration_ttl: int | None = None,
        metadata: Any = None,
    ) -> None:
        options = _options(expiration=expiration, expirationTtl=expiration_ttl, metadata=metadata)
        self._call("kv.put", key=key, value=value, options=options)

    def list(
        self, prefix: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """`list()`: `{"keys": [{"name", "expiration"?, "metadata"?}], "list_complete",
        "cursor"?, "cacheStatus"}`."""
        result: dict[str, Any] = self._call(
            "kv.list", options=_options(prefix=prefix, limit=limit, cursor=cursor)
        )
        return result

    def delete(self, key: str) -> None:
        self._call("kv.delete", key=key)

    def put_json_file(self, path: Path) -> int:
        """Every pair of a JSON file in `wrangler kv bulk put`'s format (`[{"key", "value",
        "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}]`); how many."""
        pairs = json.loads(Path(path).read_text(encoding="utf-8"))
        for pair in pairs:
            value = pair["value"]
            self.put(
                pair["key"],
                base64.b64decode(value) if pair.get("base64") else value,
                expiration=pair.get("expiration"),
                expiration_ttl=pair.get("expiration_ttl"),
                metadata=pair.get("metadata"),
            )
        return len(pairs)
