"""Bulk get: `get([keys])` and `getWithMetadata([keys])` give the Worker a Map of up to 100 keys."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest


def digest(data: bytes) -> dict[str, object]:
    return {"$length": len(data), "$sha256": hashlib.sha256(data).hexdigest()}


def test_text_values_by_key_with_null_for_missing_keys(kv, ns):
    kv.put(f"{ns}a", "alpha")
    kv.put(f"{ns}b", "")
    kv.put(f"{ns}c", {"$bytes": base64.b64encode(b"caf\xe9").decode()})
    expected = {f"{ns}a": "alpha", f"{ns}b": "", f"{ns}c": "caf\ufffd", f"{ns}x": None}
    keys = list(expected)
    assert kv.get(keys) == expected
    assert kv.get(keys, "text") == expected
    assert kv.get(keys, {"type": "text", "cacheTtl": 60}) == expected


def test_json_values_are_parsed(kv, ns):
    kv.put(f"{ns}obj", '{"a": [1, "ü", null], "b": {"c": true}}')
    kv.put(f"{ns}num", " 42 ")
    kv.put(f"{ns}str", '"quoted \\u00e9"')
    kv.put(f"{ns}big", "123456789012345678901234567890")
    keys = [f"{ns}obj", f"{ns}num", f"{ns}str", f"{ns}big", f"{ns}missing"]
    assert kv.get(keys, "json") == {
        f"{ns}obj": {"a": [1, "ü", None], "b": {"c": True}},
        f"{ns}num": 42,
        f"{ns}str": "quoted é",
        f"{ns}big": 1.2345678901234568e29,
        f"{ns}missing": None,
    }


@pytest.mark.parametrize("value", ["not json", "", "NaN", "{'single': 1}", "[1,]", "01"])
def test_a_value_that_is_not_json_fails_the_whole_call(kv, ns, value):
    kv.put(f"{ns}good", "{}")
    kv.put(f"{ns}bad", value)
    assert kv.error("get", keys=[f"{ns}good", f"{ns}bad"], options={"type": "json"}) == (
        "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value"
    )


def test_with_metadata_each_found_key_maps_to_value_and_metadata(kv, ns):
    kv.put(f"{ns}m", '{"v": 1}', metadata={"owner": "zoë"})
    kv.put(f"{ns}plain", "[]")
    kv.put(f"{ns}empty", "", metadata="tag")
    keys = [f"{ns}m", f"{ns}plain", f"{ns}empty", f"{ns}missing"]
    assert kv.meta(keys) == {
        f"{ns}m": {"value": '{"v": 1}', "metadata": {"owner": "zoë"}},
        f"{ns}plain": {"value": "[]", "metadata": None},
        f"{ns}empty": {"value": "", "metadata": "tag"},
        f"{ns}missing": None,
    }
    assert kv.meta(keys[:2], "json") == {
        f"{ns}m": {"value": {"v": 1}, "metadata": {"owner": "zoë"}},
        f"{ns}plain": {"value": [], "metadata": None},
    }


def test_large_values_are_read_from_their_files(kv, ns):
    text = json.dumps({"payload": "x" * 300_000})
    kv.put(f"{ns}large", text, metadata={"size": len(text)})
    assert kv.get([f"{ns}large"], "json") == {f"{ns}large": {"payload": "x" * 300_000}}
    assert kv.meta([f"{ns}large"]) == {
        f"{ns}large": {"value": text, "metadata": {"size": len(text)}}
    }


def test_a_key_asked_for_twice_appears_once(kv, ns):
    kv.put(f"{ns}a", "1")
    assert kv.get([f"{ns}a", f"{ns}a"]) == {f"{ns}a": "1"}


def test_between_1_and_100_keys(kv, ns):
    keys = [f"{ns}{i}" for i in range(100)]
    assert kv.get(keys) == dict.fromkeys(keys)
    assert kv.error("get", keys=[*keys, f"{ns}100"]) == (
        "KV GET_BULK failed: 400 You can request a maximum of 100 keys"
    )
    assert kv.error("get", keys=[]) == "KV GET_BULK failed: 400 You must request a minimum of 1 key"
    many = [f"{i:05d}{'k' * 500}" for i in range(5000)]
    assert kv.error("get", keys=many) == (
        "KV GET_BULK failed: 400 You can request a maximum of 100 keys"
    )


@pytest.mark.parametrize("kind", ["arrayBuffer", "stream"])
def test_only_text_and_json_types(kv, ns, kind):
    message = f'KV GET_BULK failed: 400 "{kind}" is not a valid type. Use "json" or "text"'
    assert kv.error("get", keys=[f"{ns}a"], options=kind) == message
    assert kv.error("getWithMetadata", keys=[f"{ns}a"], options={"type": kind}) == message


def test_the_values_found_may_total_at_most_25_mib(kv, ns):
    half = 12 * 1024 * 1024
    kv.put(f"{ns}a", {"$fill": 97, "length": half})
    kv.put(f"{ns}b", {"$fill": 98, "length": half})
    kv.put(f"{ns}c", {"$fill": 99, "length": 1024 * 1024 + 1})
    assert kv.ok("get", keys=[f"{ns}a", f"{ns}b", f"{ns}missing"], digest=True) == {
        f"{ns}a": digest(b"a" * half),
        f"{ns}b": digest(b"b" * half),
        f"{ns}missing": None,
    }
    assert kv.error("get", keys=[f"{ns}a", f"{ns}b", f"{ns}c"]) == (
        "KV GET_BULK failed: 413 Total size of request exceeds the limit of 25MB"
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_deeper_than_python_parses_is_parsed_as_get_of_one_key_parses_it(kv, ns, depth):
    kv.put(f"{ns}deep", "[" * depth + "]" * depth)
    kv.put(f"{ns}object", '{"a":' * depth + "1" + "}" * depth)
    for key in (f"{ns}deep", f"{ns}object"):
        alone = kv.ok("get", key=key, options="json", depth=True)
        assert alone == {"$depth": depth}
        assert kv.ok("get", keys=[key], options="json", depth=True) == {key: alone}


def test_integers_of_any_length_are_json_as_get_of_one_key_reads_them(kv, ns):
    kv.put(f"{ns}long", "9" * 5_000)
    kv.put(f"{ns}inside", '{"n": -' + "1" * 4_301 + ', "m": 0.' + "5" * 5_000 + "}")
    keys = [f"{ns}long", f"{ns}inside"]
    alone = {key: kv.get(key, "json") for key in keys}
    fraction = float("0." + "5" * 5_000)
    assert alone == {f"{ns}long": None, f"{ns}inside": {"n": None, "m": fraction}}  # ±Infinity
    assert kv.get(keys, "json") == alone


def test_deep_json_that_does_not_parse_still_fails_the_whole_call(kv, ns):
    kv.put(f"{ns}good", "[]")
    kv.put(f"{ns}unclosed", "[" * 10_000 + "]" * 9_999)
    assert kv.error("get", keys=[f"{ns}good", f"{ns}unclosed"], options={"type": "json"}) == (
        "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value"
    )
