"""Splitting SQL into statements as SQLite's tokenizer sees them."""

from __future__ import annotations

import pytest

from groundflare.shim.d1.statements import is_blank, split


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;", ["SELECT 1;"]),
        ("SELECT 1; SELECT 2", ["SELECT 1;", " SELECT 2"]),
        ("SELECT ';'; SELECT \"a;b\"", ["SELECT ';';", ' SELECT "a;b"']),
        ("SELECT 'it''s;'; SELECT 2;", ["SELECT 'it''s;';", " SELECT 2;"]),
        ("SELECT 1 -- a; comment\n; SELECT 2", ["SELECT 1 -- a; comment\n;", " SELECT 2"]),
        ("SELECT /* ; */ 1;", ["SELECT /* ; */ 1;"]),
        ("SELECT [a;b] FROM t; SELECT `c;d`", ["SELECT [a;b] FROM t;", " SELECT `c;d`"]),
        (
            "CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (1); END; SELECT 1",
            [
                "CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (1); END;",
                " SELECT 1",
            ],
        ),
        ("SELECT 1;;; ;", ["SELECT 1;"]),
        ("SELECT 1; -- trailing comment", ["SELECT 1;"]),
        ("", []),
        ("  \n\t", []),
        ("-- only a comment", []),
        ("/* unterminated comment", []),
    ],
)
def test_split(sql, expected):
    assert split(sql) == expected


def test_blank_means_nothing_to_run():
    assert is_blank(" ; -- x\n /* y */ ;")
    assert not is_blank("' ;'")
    assert not is_blank("x")


def test_splitting_a_large_script_is_linear_enough():
    script = "INSERT INTO t VALUES ('a;b;c');\n" * 3000
    assert len(split(script)) == 3000
