"""put, get, head and delete as a production Worker calls them, answered through real workerd."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.workers.r2.probe import (
    get,
    head,
    headers,
    key,
    listing,
    md5_hex,
    ok,
    pattern,
    put,
    r2_stack,
    raw,
    run,
)

__all__ = ["key", "r2_stack"]  # fixtures


def test_put_returns_the_new_object(r2_stack, key):
    obj = put(r2_stack, key, "Hello, R2!")
    assert obj["class"] == "HeadResult"
    assert obj["key"] == key
    assert obj["size"] == 10
    assert obj["etag"] == md5_hex("Hello, R2!")
    assert obj["httpEtag"] == f'"{md5_hex("Hello, R2!")}"'
    assert re.fullmatch(r"[0-9a-f]{32}", obj["version"])
    assert obj["checksums"] == {"md5": md5_hex("Hello, R2!")}
    assert obj["storageClass"] == "Standard"
    assert obj["httpMetadata"] == {}
    assert obj["customMetadata"] == {}
    assert "range" not in obj


def test_get_returns_metadata_and_body(r2_stack, key):
    stored = put(r2_stack, key, "Hello, R2!")
    obj = get(r2_stack, key)
    assert obj["class"] == "GetResult"
    assert obj["body"] == "Hello, R2!"
    assert obj["range"] == {"offset": 0, "length": 10}
    for field in ("key", "version", "size", "etag", "uploaded", "checksums", "storageClass"):
        assert obj[field] == stored[field], field


def test_head_has_metadata_but_no_body(r2_stack, key):
    put(r2_stack, key, "abc")
    obj = head(r2_stack, key)
    assert obj["class"] == "HeadResult"
    assert obj["hasBody"] is False
    assert obj["size"] == 3
    assert obj["range"] == {"offset": 0, "length": 3}


def test_missing_objects_are_null(r2_stack, key):
    assert head(r2_stack, key) is None
    assert get(r2_stack, key) is None


def test_binary_values_round_trip(r2_stack, key):
    data = bytes(range(256)) * 3
    obj = put(r2_stack, key, raw(data))
    assert obj["etag"] == md5_hex(data)
    assert get(r2_stack, key, read="base64")["body"] == raw(data)["$bytes"]


def test_empty_values(r2_stack, key):
    obj = put(r2_stack, key, "")
    assert obj["size"] == 0
    assert obj["etag"] == md5_hex(b"")
    fetched = get(r2_stack, key)
    assert fetched["body"] == ""
    assert fetched["range"] == {"offset": 0, "length": 0}


def test_values_above_the_inline_threshold_round_trip(r2_stack, key):
    data = hashlib.sha512(b"seed").digest() * 4096  # 256 KiB: stored as a blob file
    obj = put(r2_stack, key, raw(data))
    assert obj["etag"] == md5_hex(data)
    fetched = get(r2_stack, key, read="digest")
    assert fetched["body"]["bytes"] == len(data)
    assert fetched["body"]["md5"] == md5_hex(data)


def test_a_body_can_be_put_again_because_its_length_is_known(r2_stack, key):
    """Copying is `put(to, (await get(from)).body)`: workerd needs the body's length, which it
    has because the shim frames the answer with Content-Length."""
    source = put(r2_stack, key, pattern(3 * 1024 * 1024, seed=5))
    copy = ok(r2_stack, {"op": "copy", "from": key, "key": key + "-copy"})
    assert (copy["size"], copy["etag"]) == (source["size"], source["etag"])


def test_put_replaces_value_metadata_and_version(r2_stack, key):
    first = put(r2_stack, key, "one", customMetadata={"v": "1"})
    second = put(r2_stack, key, "two!", httpMetadata={"contentType": "text/plain"})
    assert second["version"] != first["version"]
    obj = get(r2_stack, key)
    assert obj["body"] == "two!"
    assert obj["size"] == 4
    assert obj["customMetadata"] == {}
    assert obj["httpMetadata"] == {"contentType": "text/plain"}


def test_http_metadata_round_trips_and_writes_headers(r2_stack, key):
    http = {
        "contentType": "text/html; charset=utf-8",
        "contentLanguage": "en-GB",
        "contentDisposition": 'attachment; filename="a.html"',
        "contentEncoding": "identity",
        "cacheControl": "max-age=3600",
        "cacheExpiry": {"$date": 1767225600000},
    }
    put(r2_stack, key, "<p>hi</p>", httpMetadata=http)
    obj = get(r2_stack, key)
    assert obj["httpMetadata"] == {**http, "cacheExpiry": 1767225600000}
    assert obj["headers"] == {
        "cache-control": "max-age=3600",
        "content-disposition": 'attachment; filename="a.html"',
        "content-encoding": "identity",
        "content-language": "en-GB",
        "content-type": "text/html; charset=utf-8",
        "expires": "Thu, 01 Jan 2026 00:00:00 GMT",
    }


def test_http_metadata_from_headers(r2_stack, key):
    sent = headers(
        content_type="application/json",
        cache_control="no-store",
        expires="Thu, 01 Jan 2026 00:00:00 GMT",
        x_ignored="yes",
    )
    put(r2_stack, key, "{}", httpMetadata=sent)
    assert head(r2_stack, key)["httpMetadata"] == {
        "contentType": "application/json",
        "cacheControl": "no-store",
        "cacheExpiry": 1767225600000,
    }


def test_custom_metadata_round_trips_in_utf8(r2_stack, key):
    custom = {"owner": "zoë", "emoji": "🚀", "quote": 'a "b" \\ c', "日本": "語"}
    put(r2_stack, key, "x", customMetadata=custom)
    assert get(r2_stack, key)["customMetadata"] == custom
    assert head(r2_stack, key)["customMetadata"] == custom


@pytest.mark.parametrize(
    ("option", "algorithm"),
    [
        ("sha1", hashlib.sha1),
        ("sha256", hashlib.sha256),
        ("sha384", hashlib.sha384),
        ("sha512", hashlib.sha512),
    ],
)
def test_a_supplied_checksum_is_verified_and_reported(r2_stack, key, option, algorithm):
    digest = algorithm(b"payload").hexdigest()
    obj = put(r2_stack, key, "payload", **{option: digest})
    assert obj["checksums"] == {"md5": md5_hex("payload"), option: digest}
    assert head(r2_stack, key)["checksums"] == obj["checksums"]


def test_a_supplied_md5_is_verified(r2_stack, key):
    obj = put(r2_stack, key, "payload", md5=md5_hex("payload"))
    assert obj["checksums"] == {"md5": md5_hex("payload")}


def test_storage_class(r2_stack, key):
    assert put(r2_stack, key, "x", storageClass="InfrequentAccess")["storageClass"] == (
        "InfrequentAccess"
    )
    assert head(r2_stack, key)["storageClass"] == "InfrequentAccess"
    assert put(r2_stack, key, "x")["storageClass"] == "Standard"


def test_uploaded_is_the_time_of_the_put(r2_stack, key):
    first = put(r2_stack, key, "a")
    second = put(r2_stack, key, "b")
    assert 0 <= second["uploaded"] - first["uploaded"] < 60_000


def test_keys_are_exact_bytes(r2_stack):
    keys = ["Straße", "strasse", "STRASSE", "a/b", "a//b", "a b", "%41", "🚀/launch", "..", "."]
    keys += ["del\x7f", "tab\t", "line\nbreak", "nul\x00", '"quoted"', "back\\slash"]
    steps = [{"op": "put", "key": k, "value": k} for k in keys]
    steps += [{"op": "get", "key": k, "read": "text"} for k in keys]
    results = run(r2_stack, *steps)
    assert [r["ok"]["body"] for r in results[len(keys) :]] == keys
    assert [r["ok"]["key"] for r in results[len(keys) :]] == keys


def test_delete_one_and_many(r2_stack, key):
    names = [f"{key}/{i}" for i in range(3)]
    for name in names:
        put(r2_stack, name, "x")
    assert ok(r2_stack, {"op": "delete", "keys": names[0]}) is None
    assert head(r2_stack, names[0]) is None
    assert ok(r2_stack, {"op": "delete", "keys": [*names[1:], f"{key}/missing"]}) is None
    assert [head(r2_stack, name) for name in names] == [None, None, None]


def test_deleting_a_missing_key_succeeds(r2_stack, key):
    assert ok(r2_stack, {"op": "delete", "keys": key}) is None


def test_keys_never_become_paths(r2_stack):
    data_dir = r2_stack.data_dir
    escape = "../../escape"
    for name in (escape, "/etc/passwd", "..\\..\\win", "CON", "a/../../b"):
        put(r2_stack, name, "gotcha" * 20_000)  # large enough for a blob file
        assert get(r2_stack, name, read="digest")["body"]["bytes"] == 120_000
    bucket = data_dir / "r2" / "probe"
    outside = [
        path
        for path in data_dir.parent.rglob("*")
        if path.is_file() and bucket not in path.parents and "escape" in path.name
    ]
    assert outside == []
    names = {path.name for path in bucket.rglob("*")}
    assert not any("escape" in name or "passwd" in name for name in names)


def test_a_lone_surrogate_in_a_key_or_metadata_is_accepted(r2_stack, key):
    # Accepted as JavaScript has it; stored as the Worker reads it back on production: the
    # surrogate's three WTF-8 bytes, one U+FFFD each.
    lone = f"{key}/a\ud800b"
    stored = f"{key}/a\ufffd\ufffd\ufffdb"
    put(r2_stack, lone, "v", customMetadata={"m": "x\udfff"})
    got = get(r2_stack, lone)
    assert (got["key"], got["body"]) == (stored, "v")
    assert got["customMetadata"] == {"m": "x\ufffd\ufffd\ufffd"}
    assert [item["key"] for item in listing(r2_stack, prefix=f"{key}/")["objects"]] == [stored]
