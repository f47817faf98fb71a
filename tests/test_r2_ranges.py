"""Ranged reads: the `range` option as an object and as Headers, through real workerd."""

from __future__ import annotations

import pytest

from tests.workers.r2.probe import (
    error,
    get,
    headers,
    key,
    md5_hex,
    pattern,
    pattern_bytes,
    put,
    r2_stack,
    raw,
)

__all__ = ["key", "r2_stack"]  # fixtures

TEXT = "0123456789"
NOT_SATISFIABLE = "get: The requested range is not satisfiable (10039)"


@pytest.fixture
def digits(r2_stack, key):
    put(r2_stack, key, TEXT)
    return key


@pytest.mark.parametrize(
    ("range_", "body", "served"),
    [
        ({"offset": 2}, "23456789", (2, 8)),
        ({"offset": 2, "length": 3}, "234", (2, 3)),
        ({"length": 4}, "0123", (0, 4)),
        ({"offset": 0, "length": 10}, TEXT, (0, 10)),
        ({"offset": 8, "length": 100}, "89", (8, 2)),  # clamped at the end
        ({"offset": 10}, None, None),  # offset == size: nothing left, 416
        ({"suffix": 3}, "789", (7, 3)),
        ({"suffix": 100}, TEXT, (0, 10)),  # clamped to the whole object
    ],
)
def test_range_objects(r2_stack, digits, range_, body, served):
    step = {"op": "get", "key": digits, "read": "text", "options": {"range": range_}}
    if body is None:
        assert error(r2_stack, step) == NOT_SATISFIABLE
        return
    obj = get(r2_stack, digits, range=range_)
    assert obj["body"] == body
    assert obj["range"] == {"offset": served[0], "length": served[1]}
    assert obj["size"] == 10


@pytest.mark.parametrize(
    "range_", [{"offset": 11}, {"length": 0}, {"offset": 3, "length": 0}, {"suffix": 0}]
)
def test_unsatisfiable_range_objects_are_416(r2_stack, digits, range_):
    step = {"op": "get", "key": digits, "options": {"range": range_}}
    assert error(r2_stack, step) == NOT_SATISFIABLE


@pytest.mark.parametrize(
    "range_", [{"offset": 0}, {"length": 5}, {"offset": 0, "length": 5}, {"suffix": 5}]
)
def test_any_range_of_an_empty_object_is_416(r2_stack, key, range_):
    put(r2_stack, key, "")
    step = {"op": "get", "key": key, "options": {"range": range_}}
    assert error(r2_stack, step) == NOT_SATISFIABLE


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=0-4", "bytes=-5"])
def test_a_range_header_on_an_empty_object_serves_it_whole(r2_stack, key, header):
    put(r2_stack, key, "")
    got = get(r2_stack, key, range=headers(range=header))
    assert (got["body"], got["range"]) == ("", {"offset": 0, "length": 0})


@pytest.mark.parametrize(
    ("range_", "message"),
    [
        ({"offset": -1}, "Invalid range. Starting offset (-1) must be greater than or equal to 0."),
        ({"offset": 1.5}, "Invalid range. Starting offset (1.5) must be an integer, not floating"),
        ({"suffix": 2, "offset": 1}, "Suffix is incompatible with offset."),
    ],
)
def test_the_client_rejects_malformed_range_objects(r2_stack, digits, range_, message):
    step = {"op": "get", "key": digits, "options": {"range": range_}}
    assert error(r2_stack, step).startswith(message)


@pytest.mark.parametrize(
    ("header", "body", "served"),
    [
        ("bytes=0-3", "0123", (0, 4)),
        ("bytes=4-", "456789", (4, 6)),
        ("bytes=-2", "89", (8, 2)),
        ("bytes=5-100", "56789", (5, 5)),
        ("BYTES = 1 - 2", "12", (1, 2)),
        # Anything else serves the whole object: several ranges, malformed or unsatisfiable.
        ("bytes=0-1,4-5", TEXT, (0, 10)),
        ("bytes=5-2", TEXT, (0, 10)),
        ("bytes=10-", TEXT, (0, 10)),
        ("bytes=-10", TEXT, (0, 10)),
        ("bytes=abc", TEXT, (0, 10)),
        ("items=0-1", TEXT, (0, 10)),
        ("bytes=", TEXT, (0, 10)),
    ],
)
def test_range_headers(r2_stack, digits, header, body, served):
    obj = get(r2_stack, digits, range=headers(range=header))
    assert obj["body"] == body
    assert obj["range"] == {"offset": served[0], "length": served[1]}


def test_headers_without_a_range_serve_everything(r2_stack, digits):
    obj = get(r2_stack, digits, range=headers(accept="*/*"))
    assert obj["body"] == TEXT
    assert obj["range"] == {"offset": 0, "length": 10}


def test_ranges_of_large_objects_cross_io_chunks(r2_stack, key):
    size = 3 * 1024 * 1024 + 17
    put(r2_stack, key, pattern(size, seed=3))
    data = pattern_bytes(size, seed=3)
    offset, length = 1024 * 1024 - 5, 2 * 1024 * 1024 + 9
    obj = get(r2_stack, key, read="digest", range={"offset": offset, "length": length})
    assert obj["body"]["bytes"] == length
    assert obj["body"]["md5"] == md5_hex(data[offset : offset + length])
    assert obj["range"] == {"offset": offset, "length": length}
    tail = get(r2_stack, key, read="base64", range={"suffix": 5})
    assert tail["range"] == {"offset": size - 5, "length": 5}
    assert tail["body"] == raw(data[-5:])["$bytes"]
