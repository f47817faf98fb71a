"""Failures and limits: production's texts, reaching the Worker as `D1_ERROR: ...`."""

from __future__ import annotations

import pytest

from tests.d1 import error, ok, rows


def all_(sql, *params):
    return {"op": "all", "sql": sql, "params": list(params)}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", 'near "SELEC": syntax error at offset 0: SQLITE_ERROR'),
        ("SELECT * FROM missing", "no such table: missing: SQLITE_ERROR"),
        ("SELECT nope FROM sqlite_master", "no such column: nope at offset 7: SQLITE_ERROR"),
        ("   ", "No SQL statements detected."),
        ("   -- an indented comment is dropped, like whitespace", "No SQL statements detected."),
        ("-- just a comment\n/* and another */ ;", "SQL code did not contain a statement."),
        (";", "SQL code did not contain a statement."),
        ("SELECT 1; -- a trailing comment", "SQL code did not contain a statement."),
        ("SELECT 1;;", "SQL code did not contain a statement."),
    ],
)
def test_sql_errors(d1_stack, sql, message):
    assert error(d1_stack, all_(sql)) == f"D1_ERROR: {message}"


def test_a_nul_character_in_sql_text_is_refused_where_it_stands(d1_stack):
    message = "SQL text holds a NUL character (U+0000) at offset 8: SQLITE_ERROR"
    assert error(d1_stack, all_("SELECT 1\0 AS x")) == f"D1_ERROR: {message}"
    assert ok(d1_stack, all_("SELECT ? AS x", "a\0b"))["results"] == [{"x": "a\0b"}]


def test_constraint_errors_name_the_extended_code(d1_stack, table):
    ok(
        d1_stack,
        {
            "op": "exec",
            "sql": f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, "
            f"email TEXT UNIQUE NOT NULL, parent INTEGER REFERENCES {table}(id))",
        },
    )
    ok(d1_stack, all_(f"INSERT INTO {table} (email) VALUES ('a@x')"))
    assert error(d1_stack, all_(f"INSERT INTO {table} (email) VALUES ('a@x')")) == (
        f"D1_ERROR: UNIQUE constraint failed: {table}.email: SQLITE_CONSTRAINT "
        "(extended: SQLITE_CONSTRAINT_UNIQUE)"
    )
    assert error(d1_stack, all_(f"INSERT INTO {table} (email) VALUES (NULL)")) == (
        f"D1_ERROR: NOT NULL constraint failed: {table}.email: SQLITE_CONSTRAINT "
        "(extended: SQLITE_CONSTRAINT_NOTNULL)"
    )


def test_foreign_keys_are_enforced_as_in_production(d1_stack, table):
    assert rows(d1_stack, "PRAGMA foreign_keys") == [{"foreign_keys": 1}]
    ok(
        d1_stack,
        {
            "op": "exec",
            "sql": f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, "
            f"parent INTEGER REFERENCES {table}(id))",
        },
    )
    assert error(d1_stack, all_(f"INSERT INTO {table} (parent) VALUES (42)")) == (
        "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT "
        "(extended: SQLITE_CONSTRAINT_FOREIGNKEY)"
    )
    # defer_foreign_keys is allowed, as production allows it.
    ok(d1_stack, all_("PRAGMA defer_foreign_keys = on"))


def test_parameter_count_must_match(d1_stack):
    assert error(d1_stack, all_("SELECT ?, ?", 1)) == (
        "D1_ERROR: Wrong number of parameter bindings for SQL query."
    )
    assert error(d1_stack, all_("SELECT 1", 1)) == (
        "D1_ERROR: Wrong number of parameter bindings for SQL query."
    )


def test_only_the_last_of_several_statements_may_have_parameters(d1_stack):
    assert rows(d1_stack, "SELECT 1; SELECT ? AS v", 2) == [{"v": 2}]
    assert error(d1_stack, all_("SELECT ?; SELECT 2", 1)) == (
        "D1_ERROR: When executing multiple SQL statements in a single call, "
        "only the last statement can have parameters."
    )


def test_more_than_100_parameters_is_refused(d1_stack):
    sql = "SELECT " + ", ".join("?" for _ in range(101))
    assert error(d1_stack, all_(sql, *range(101))) == (
        "D1_ERROR: too many SQL variables at offset 307: SQLITE_ERROR"
    )
    assert error(d1_stack, all_("SELECT ?101", 1)) == (
        "D1_ERROR: variable number must be between ?1 and ?100 at offset 7: SQLITE_ERROR"
    )
    sql = "SELECT " + ", ".join("?" for _ in range(100)) + " AS x"
    assert ok(d1_stack, all_(sql, *range(100)))["results"][0]["x"] == 99


def test_statements_over_100_kb_are_refused(d1_stack):
    long_literal = "x" * 100_000
    assert error(d1_stack, all_(f"SELECT '{long_literal}'")) == (
        "D1_ERROR: statement too long: SQLITE_TOOBIG"
    )
    fits = "x" * 99_000
    assert rows(d1_stack, f"SELECT length('{fits}') AS n") == [{"n": 99_000}]


def test_strings_and_blobs_over_2_mb_are_refused(d1_stack):
    assert error(d1_stack, all_("SELECT ?", "x" * 2_000_001)) == (
        "D1_ERROR: string or blob too big: SQLITE_TOOBIG"
    )
    assert error(d1_stack, all_("SELECT zeroblob(2000001)")) == (
        "D1_ERROR: string or blob too big: SQLITE_TOOBIG"
    )
    assert rows(d1_stack, "SELECT length(?) AS n", "x" * 2_000_000) == [{"n": 2_000_000}]


def test_transaction_statements_are_refused_with_workerds_guidance(d1_stack):
    for sql in ("BEGIN TRANSACTION", "COMMIT", "SAVEPOINT a", "ROLLBACK"):
        message = error(d1_stack, all_(sql))
        assert message.startswith(
            "D1_ERROR: To execute a transaction, please use the state.storage.transaction()"
        ), message
