"""`env.KV` get, getWithMetadata, put and delete through real workerd, as production answers."""

from __future__ import annotations

import base64
import hashlib

import pytest


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def digest(data: bytes) -> dict[str, object]:
    return {"$length": len(data), "$sha256": hashlib.sha256(data).hexdigest()}


def test_a_put_value_reads_back_as_text(kv, ns):
    kv.put(f"{ns}greeting", "Hello from KV")
    assert kv.get(f"{ns}greeting") == "Hello from KV"
    assert kv.get(f"{ns}greeting", "text") == "Hello from KV"
    assert kv.get(f"{ns}greeting", {"type": "text"}) == "Hello from KV"


def test_a_missing_key_is_null(kv, ns):
    assert kv.get(f"{ns}missing") is None
    assert kv.get(f"{ns}missing", "arrayBuffer") is None
    assert kv.get(f"{ns}missing", "stream") is None
    assert kv.meta(f"{ns}missing") == {"value": None, "metadata": None, "cacheStatus": None}


def test_json_values_are_parsed_by_the_worker(kv, ns):
    kv.put(f"{ns}doc", '{"a": [1, 2.5, "ü"], "b": null}')
    assert kv.get(f"{ns}doc", "json") == {"a": [1, 2.5, "ü"], "b": None}
    assert kv.get(f"{ns}doc", {"type": "json"}) == {"a": [1, 2.5, "ü"], "b": None}


def test_a_value_that_is_not_json_throws_in_the_worker(kv, ns):
    kv.put(f"{ns}text", "not json")
    (result,) = kv.run({"op": "get", "key": f"{ns}text", "options": "json"})
    assert result["error"]["name"] == "SyntaxError"


def test_binary_values_round_trip_byte_for_byte(kv, ns):
    data = bytes(range(256)) * 4
    kv.put(f"{ns}bytes", {"$bytes": b64(data)})
    kv.put(f"{ns}buffer", {"$buffer": b64(data[::-1])})
    assert kv.get(f"{ns}bytes", "arrayBuffer") == {"$bytes": b64(data)}
    assert kv.get(f"{ns}bytes", "stream") == {"$bytes": b64(data)}
    assert kv.get(f"{ns}buffer", {"type": "arrayBuffer"}) == {"$bytes": b64(data[::-1])}


def test_text_reads_replace_invalid_utf8_as_the_worker_decodes_it(kv, ns):
    kv.put(f"{ns}latin1", {"$bytes": b64(b"caf\xe9")})
    assert kv.get(f"{ns}latin1") == "caf\ufffd"


def test_empty_values_are_values_not_missing_keys(kv, ns):
    kv.put(f"{ns}empty-text", "")
    kv.put(f"{ns}empty-bytes", {"$bytes": ""})
    kv.put(f"{ns}empty-stream", {"$stream": 0, "length": 0})
    assert kv.get(f"{ns}empty-text") == ""
    assert kv.get(f"{ns}empty-bytes", "arrayBuffer") == {"$bytes": ""}
    assert kv.get(f"{ns}empty-stream", "stream") == {"$bytes": ""}
    assert kv.meta(f"{ns}empty-text") == {"value": "", "metadata": None, "cacheStatus": None}


@pytest.mark.parametrize("length", [64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024 + 7])
def test_values_stay_intact_on_both_sides_of_the_inline_threshold(kv, ns, length):
    data = bytes(i % 251 for i in range(length))
    kv.put(f"{ns}v", {"$bytes": b64(data)})
    assert kv.ok("get", key=f"{ns}v", options="arrayBuffer", digest=True) == digest(data)
    assert kv.ok("get", key=f"{ns}v", options="stream", digest=True) == digest(data)


def test_a_stream_of_unknown_length_is_stored_whole(kv, ns):
    length = 2 * 1024 * 1024 + 5
    kv.put(f"{ns}s", {"$stream": 120, "length": length, "chunk": 100_000})
    assert kv.ok("get", key=f"{ns}s", options="arrayBuffer", digest=True) == digest(b"x" * length)


def test_metadata_round_trips_through_get_with_metadata(kv, ns):
    metadata = {"owner": "zoë", "emoji": "😀", "n": 2.5e-7, "list": [True, None], "del": "a\x7fb"}
    kv.put(f"{ns}m", "value", metadata=metadata)
    assert kv.meta(f"{ns}m") == {"value": "value", "metadata": metadata, "cacheStatus": None}
    assert kv.meta(f"{ns}m", "arrayBuffer")["value"] == {"$bytes": b64(b"value")}


@pytest.mark.parametrize("metadata", ["just a string", 42, [1, "two"], False])
def test_metadata_need_not_be_an_object(kv, ns, metadata):
    kv.put(f"{ns}m", "v", metadata=metadata)
    assert kv.meta(f"{ns}m")["metadata"] == metadata


def test_null_metadata_is_no_metadata(kv, ns):
    kv.put(f"{ns}m", "v", metadata=None)
    assert kv.meta(f"{ns}m") == {"value": "v", "metadata": None, "cacheStatus": None}


def test_a_put_replaces_value_metadata_and_expiration(kv, ns):
    kv.put(f"{ns}k", "one", metadata={"v": 1}, expirationTtl=3600)
    kv.put(f"{ns}k", "two")
    assert kv.meta(f"{ns}k") == {"value": "two", "metadata": None, "cacheStatus": None}
    assert kv.list(prefix=f"{ns}k")["keys"] == [{"name": f"{ns}k"}]


def test_a_large_value_replaced_by_a_small_one_and_back(kv, ns):
    big = bytes(i % 7 for i in range(200_000))
    kv.put(f"{ns}k", {"$bytes": b64(big)})
    kv.put(f"{ns}k", "small")
    assert kv.get(f"{ns}k") == "small"
    kv.put(f"{ns}k", {"$bytes": b64(big)})
    assert kv.ok("get", key=f"{ns}k", options="arrayBuffer", digest=True) == digest(big)


def test_delete_removes_the_key_and_succeeds_for_missing_keys(kv, ns):
    kv.put(f"{ns}k", "v", metadata={"a": 1})
    assert kv.ok("delete", key=f"{ns}k") is None
    assert kv.get(f"{ns}k") is None
    assert kv.meta(f"{ns}k")["metadata"] is None
    assert kv.ok("delete", key=f"{ns}k") is None
    assert kv.ok("delete", key=f"{ns}never-there") is None


def test_cache_ttl_of_at_least_30_is_accepted_and_changes_nothing(kv, ns):
    kv.put(f"{ns}k", "v")
    assert kv.get(f"{ns}k", {"cacheTtl": 30}) == "v"
    assert kv.get(f"{ns}k", {"cacheTtl": 86400, "type": "text"}) == "v"


def test_an_unknown_type_is_refused_by_the_binding(kv, ns):
    kv.put(f"{ns}k", "v")
    assert kv.error("get", key=f"{ns}k", options="blob") == (
        'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".'
    )


def test_values_of_other_types_are_refused_by_the_binding(kv, ns):
    (result,) = kv.run({"op": "put", "key": f"{ns}k", "value": {"an": "object"}})
    assert result["error"] == {
        "name": "TypeError",
        "message": "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and "
        "ReadableStreams as values.",
    }


def test_a_thousand_calls_at_once_all_succeed(kv, ns):
    """workerd opens a connection per concurrent call; the shim accepts every one."""
    steps = [{"op": "put", "key": f"{ns}p{i}", "value": str(i)} for i in range(1000)]
    assert kv.ok("parallel", steps=steps) == [None] * 1000
    gets = [{"op": "get", "key": f"{ns}p{i}"} for i in range(1000)]
    assert kv.ok("parallel", steps=gets) == [str(i) for i in range(1000)]
