"""KV's JSON check is JSON.parse's grammar: any depth, any number of digits, nothing more."""

from __future__ import annotations

import pytest

from groundflare.shim.kv.jsontext import is_json

DEEP = 50_000  # far past Python's recursion limit, so the explicit-stack walk decides

PARSES = [
    "0",
    " -1.5e+10 ",
    '"\\ud800 lone surrogates parse"',
    "9" * 5_000,
    '{"a": [1, "ü", null, true, false, {}], "b": {"c": []}}',
    "[" * DEEP + "]" * DEEP,
    '{"k":' * DEEP + '"v"' + "}" * DEEP,
    "[" * DEEP + "1, 2, {}" + "]" * DEEP,
]
REFUSED = [
    "",
    " ",
    "NaN",
    "-Infinity",
    "01",
    "1.",
    ".5",
    "+1",
    "[1,]",
    '{"a":1,}',
    "{'single': 1}",
    '"raw \x01 control"',
    "\ufeff1",  # a BOM is not JSON.parse whitespace
    "\xa01",
    "1 2",
    "[" * DEEP + "]" * (DEEP - 1),
    "[" * DEEP + "]" * (DEEP + 1),
    "[" * DEEP + "}" + "]" * (DEEP - 1),
    '{"k":' * DEEP + "}" * DEEP,
    "[" * DEEP + "1 2" + "]" * DEEP,
    "[" * DEEP + "tru" + "]" * DEEP,
]


@pytest.mark.parametrize("text", PARSES, ids=lambda t: t[:20])
def test_what_json_parse_reads_is_json(text):
    assert is_json(text)


@pytest.mark.parametrize("text", REFUSED, ids=lambda t: t[:20])
def test_what_json_parse_refuses_is_not(text):
    assert not is_json(text)
