"""The D1 binding's request body: the fast reading (no pydantic) and the validating one agree."""

from __future__ import annotations

import pytest

from groundflare.shim import wtf8
from groundflare.shim.d1.binding import parse_queries, prepare_all, read_plain
from groundflare.shim.d1.values import QueryBody

PLAIN = [
    b'{"sql": "SELECT ?, ?, ?, ?", "params": ["a", 1, 1.5, null]}',
    b'{"sql": "SELECT 1"}',
    b'{"sql": "SELECT 1", "params": null, "extra": true}',
    b'[{"sql": "SELECT ?", "params": [-9223372036854775808]}, {"sql": "SELECT 2; SELECT 3"}]',
    b'{"sql": "SELECT ?", "params": [9223372036854775807]}',
    b'[{"sql": "SELECT 1"}, {"sql": "  -- dropped"}]',
]
# What only the validating path reads: booleans, blobs, integers past int64, lone surrogates.
VALIDATED = [
    b'{"sql": "SELECT ?", "params": [true]}',
    b'{"sql": "SELECT ?", "params": [[1, 2, 300]]}',
    b'{"sql": "SELECT ?", "params": [9223372036854775808]}',
    b'{"sql": "SELECT ?", "params": ["a\\ud800b"]}',
]


def validated(body: bytes):
    parsed = wtf8.validate_json(QueryBody, body)
    return prepare_all(parsed if isinstance(parsed, list) else [parsed])


@pytest.mark.parametrize("body", PLAIN)
def test_a_plain_body_is_read_without_pydantic_as_pydantic_reads_it(body):
    assert read_plain(body) is not None
    assert parse_queries(body) == validated(body)


@pytest.mark.parametrize("body", VALIDATED)
def test_values_that_need_converting_take_the_validating_path(body):
    assert read_plain(body) is None
    assert parse_queries(body) == validated(body)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"sql": 42}', b'{"params": []}', b"[1, 2]", b'{"sql": "x", "params": "x"}'],
)
def test_a_malformed_body_is_left_to_the_validating_path(body):
    assert read_plain(body) is None


def test_the_same_sql_twice_gets_statement_lists_of_its_own():
    first, second = parse_queries(b'[{"sql": "SELECT 1; SELECT 2"}, {"sql": "SELECT 1; SELECT 2"}]')
    assert first.statements == second.statements == ["SELECT 1;", "SELECT 2"]
    assert first.statements is not second.statements
