"""Limits and invalid options: production's statuses and texts, as the Worker catches them."""

from __future__ import annotations

import hashlib
import json

import pytest

MAX_VALUE = 25 * 1024 * 1024
TOO_LARGE = f"KV PUT failed: 413 Value length of {MAX_VALUE + 1} exceeds limit of {MAX_VALUE}."


def blob_files(kv_dir) -> list[str]:
    blobs = kv_dir / "blobs"
    return sorted(p.relative_to(blobs).as_posix() for p in blobs.rglob("*") if p.is_file())


def test_a_value_of_exactly_25_mib_is_stored(kv, ns):
    kv.put(f"{ns}max", {"$fill": 7, "length": MAX_VALUE})
    assert kv.ok("get", key=f"{ns}max", options="arrayBuffer", digest=True) == {
        "$length": MAX_VALUE,
        "$sha256": hashlib.sha256(b"\x07" * MAX_VALUE).hexdigest(),
    }
    kv.ok("delete", key=f"{ns}max")


@pytest.mark.parametrize(
    "value",
    [
        {"$fill": 1, "length": MAX_VALUE + 1},
        {"$stream": 1, "length": MAX_VALUE + 1, "chunk": 1024 * 1024},
    ],
    ids=["known-length", "stream"],
)
def test_one_byte_over_25_mib_is_refused_and_nothing_is_written(kv, kv_dir, ns, value):
    kv.put(f"{ns}k", {"$fill": 9, "length": 100_000})
    before = blob_files(kv_dir)
    assert kv.error("put", key=f"{ns}k", value=value) == TOO_LARGE
    assert kv.ok("get", key=f"{ns}k", options="arrayBuffer", digest=True)["$length"] == 100_000
    assert blob_files(kv_dir) == before
    assert not [f for f in before if f.startswith("tmp/")]


def test_a_streamed_value_far_over_the_limit_reports_its_whole_length(kv, ns):
    length = MAX_VALUE + 3 * 1024 * 1024 + 5
    assert kv.error("put", key=f"{ns}k", value={"$stream": 1, "length": length}) == (
        f"KV PUT failed: 413 Value length of {length} exceeds limit of {MAX_VALUE}."
    )
    assert kv.get(f"{ns}k") is None


@pytest.mark.parametrize(
    "metadata", ["x" * 1022, "é" * 511, {"k": "v" * 1016}], ids=["ascii", "utf8", "object"]
)
def test_metadata_of_1024_bytes_is_accepted(kv, ns, metadata):
    assert len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()) == 1024
    kv.put(f"{ns}m", "v", metadata=metadata)
    assert kv.meta(f"{ns}m")["metadata"] == metadata


@pytest.mark.parametrize(
    ("metadata", "length"),
    [("x" * 1023, 1025), ("é" * 512, 1026), ({"k": "€" * 400}, 1208)],
    ids=["ascii", "utf8", "object"],
)
def test_metadata_over_1024_bytes_is_refused(kv, ns, metadata, length):
    kv.put(f"{ns}m", "old")
    assert kv.error("put", key=f"{ns}m", value="new", options={"metadata": metadata}) == (
        f"KV PUT failed: 413 Metadata length of {length} exceeds limit of 1024."
    )
    assert kv.meta(f"{ns}m") == {"value": "old", "metadata": None, "cacheStatus": None}


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (0, "Invalid expiration_ttl of 0. Please specify integer greater than 0."),
        (-60, "Invalid expiration_ttl of -60. Please specify integer greater than 0."),
        ("nan", "Invalid expiration_ttl of 0. Please specify integer greater than 0."),
        (1, "Invalid expiration_ttl of 1. Expiration TTL must be at least 60."),
        (59, "Invalid expiration_ttl of 59. Expiration TTL must be at least 60."),
    ],
)
def test_invalid_expiration_ttls(kv, ns, ttl, message):
    kv.put(f"{ns}k", "old")
    assert kv.error("put", key=f"{ns}k", value="new", options={"expirationTtl": ttl}) == (
        f"KV PUT failed: 400 {message}"
    )
    assert kv.get(f"{ns}k") == "old"


def test_invalid_absolute_expirations(kv, ns):
    now = int(kv.advance_clock(0))
    past = "Please specify integer greater than the current number of seconds since the UNIX epoch."
    soon = "Expiration times must be at least 60 seconds in the future."
    for at, reason in [(0, past), (1, past), (now - 1, past), (now + 1, soon), (now + 30, soon)]:
        assert kv.error("put", key=f"{ns}k", value="v", options={"expiration": at}) == (
            f"KV PUT failed: 400 Invalid expiration of {at}. {reason}"
        )
    assert kv.get(f"{ns}k") is None


def test_an_expiration_ttl_wins_over_an_expiration(kv, ns):
    before = int(kv.advance_clock(0))
    kv.put(f"{ns}k", "v", expiration=1, expirationTtl=600)
    (listed,) = kv.list(prefix=f"{ns}k")["keys"]
    assert before + 600 <= listed["expiration"] <= int(kv.advance_clock(0)) + 600


def test_checks_run_in_production_order(kv, ns):
    options = {"expirationTtl": 10, "metadata": "m" * 2000}
    assert kv.error("put", key="k" * 513, value="v", options=options) == (
        "KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    )
    assert kv.error("put", key=f"{ns}k", value="v", options=options) == (
        "KV PUT failed: 400 Invalid expiration_ttl of 10. Expiration TTL must be at least 60."
    )
    assert kv.error(
        "put",
        key=f"{ns}k",
        value={"$fill": 0, "length": MAX_VALUE + 1},
        options={"metadata": "m" * 2000},
    ) == ("KV PUT failed: 413 Metadata length of 2002 exceeds limit of 1024.")


@pytest.mark.parametrize("cache_ttl", [29, 0, -1])
def test_a_cache_ttl_under_30_is_refused(kv, ns, cache_ttl):
    reason = f"400 Invalid cache_ttl of {cache_ttl}. Cache TTL must be at least 30."
    assert kv.error("get", key=f"{ns}k", options={"cacheTtl": cache_ttl}) == (
        f"KV GET failed: {reason}"
    )
    assert kv.error("getWithMetadata", key=f"{ns}k", options={"cacheTtl": cache_ttl}) == (
        f"KV GET failed: {reason}"
    )
    assert kv.error("get", keys=[f"{ns}k"], options={"cacheTtl": cache_ttl}) == (
        f"KV GET_BULK failed: {reason}"
    )


def test_list_limits(kv):
    assert kv.error("list", options={"limit": 1001}) == (
        "KV GET failed: 400 Invalid key_count_limit of 1001. "
        "Please specify an integer less than 1000."
    )
    assert kv.error("list", options={"prefix": "p" * 513}) == (
        "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    )
