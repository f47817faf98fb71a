"""`exec()` as the binding sends it: one query object per line of the trimmed input. A line that
is only a comment or only semicolons is no statement, alone or among others, with production's
text; blank and indented-comment lines are left out, as D1 leaves them out."""

from __future__ import annotations

import pytest

from tests.d1 import error, ok, rows

NO_STATEMENT = "SQL code did not contain a statement."


def exec_(sql):
    return {"op": "exec", "sql": sql}


@pytest.mark.parametrize(
    "sql",
    [
        "-- a comment",
        ";",
        "-- a leading comment\nSELECT 1",
        "SELECT 1\n-- a comment line in the middle\nSELECT 2",
        "SELECT 1\n;",
        "SELECT 1; -- a trailing comment",
    ],
)
def test_a_line_without_a_statement_fails_the_exec_as_on_d1(d1_stack, sql):
    first_line = sql.strip().split("\n")[0]
    # The binding always names line 1: production answers with the first error only.
    expected = f"D1_EXEC_ERROR: Error in line 1: {first_line}: {NO_STATEMENT}"
    assert error(d1_stack, exec_(sql)) == expected


def test_a_failing_line_undoes_the_lines_before_it(d1_stack, table):
    failing = f"CREATE TABLE {table} (v INT)\nINSERT INTO {table} VALUES (1)\n-- done"
    assert error(d1_stack, exec_(failing)).endswith(NO_STATEMENT)
    assert error(d1_stack, {"op": "all", "sql": f"SELECT * FROM {table}"}).startswith(
        "D1_ERROR: no such table"
    )


def test_blank_and_indented_comment_lines_are_left_out(d1_stack, table):
    sql = f"CREATE TABLE {table} (v INT)\n\n   -- indented\nINSERT INTO {table} VALUES (1)"
    assert ok(d1_stack, exec_(sql))["count"] == 2
    assert rows(d1_stack, f"SELECT v FROM {table}") == [{"v": 1}]


def test_a_comment_only_prepare_fails_with_the_same_text(d1_stack):
    assert error(d1_stack, {"op": "run", "sql": "-- nothing"}) == f"D1_ERROR: {NO_STATEMENT}"
