"""Every D1 method, as a production Worker calls it, answered by the shim through real workerd."""

from __future__ import annotations

import pytest

from tests.d1 import META_KEYS, blob, error, ok, rows


@pytest.fixture
def people(d1_stack, table):
    ok(d1_stack, {"op": "run", "sql": f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)"})
    ok(
        d1_stack,
        {
            "op": "batch",
            "statements": [
                {"sql": f"INSERT INTO {table} (name) VALUES (?)", "params": [name]}
                for name in ("ada", "grace", "linus")
            ],
        },
    )
    return table


def test_all_returns_row_objects_and_full_meta(d1_stack, people):
    result = ok(
        d1_stack, {"op": "all", "sql": f"SELECT * FROM {people} WHERE id < ?", "params": [3]}
    )
    assert result["success"] is True
    assert result["results"] == [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}]
    meta = result["meta"]
    assert set(meta) == META_KEYS
    assert meta["changes"] == 0
    assert meta["last_row_id"] == 3
    assert meta["changed_db"] is False
    # Rewind, then Next to id 2 and to id 3 (which ends the scan): three rows visited.
    assert meta["rows_read"] == 3
    assert meta["rows_written"] == 0
    assert meta["size_after"] > 0 and meta["size_after"] % 4096 == 0
    assert isinstance(meta["duration"], float) and meta["duration"] > 0
    assert meta["timings"] == {"sql_duration_ms": meta["duration"]}


def test_first_row_first_column_and_missing_column(d1_stack, people):
    first = {"op": "first", "sql": f"SELECT * FROM {people} ORDER BY id"}
    assert ok(d1_stack, first) == {"id": 1, "name": "ada"}
    assert ok(d1_stack, {**first, "col": "name"}) == "ada"
    assert ok(d1_stack, {"op": "first", "sql": f"SELECT * FROM {people} WHERE 0"}) is None
    assert (
        ok(d1_stack, {"op": "first", "sql": f"SELECT * FROM {people} WHERE 0", "col": "x"}) is None
    )
    assert (
        error(d1_stack, {**first, "col": "nope"}) == "D1_COLUMN_NOTFOUND: Column not found (nope)"
    )


def test_run_reports_changes_and_row_ids(d1_stack, people):
    result = ok(d1_stack, {"op": "run", "sql": f"INSERT INTO {people} (name) VALUES ('ken')"})
    assert result["results"] == []
    assert result["meta"]["changes"] == 1
    assert result["meta"]["last_row_id"] == 4
    assert result["meta"]["changed_db"] is True
    assert result["meta"]["rows_written"] == 1
    update = ok(d1_stack, {"op": "run", "sql": f"UPDATE {people} SET name = upper(name)"})
    assert update["meta"]["changes"] == 4
    assert update["meta"]["rows_written"] == 4


def test_run_still_returns_rows_of_a_returning_clause(d1_stack, people):
    sql = f"INSERT INTO {people} (name) VALUES ('barbara') RETURNING id, name"
    result = ok(d1_stack, {"op": "run", "sql": sql})
    assert result["results"] == [{"id": 4, "name": "barbara"}]
    # The RETURNING rows are read back once; the row itself is written, not read.
    assert (result["meta"]["rows_read"], result["meta"]["rows_written"]) == (1, 1)


def test_raw_with_and_without_column_names(d1_stack, people):
    sql = f"SELECT id, name FROM {people} ORDER BY id LIMIT 2"
    assert ok(d1_stack, {"op": "raw", "sql": sql}) == [[1, "ada"], [2, "grace"]]
    assert ok(d1_stack, {"op": "raw", "sql": sql, "columnNames": True}) == [
        ["id", "name"],
        [1, "ada"],
        [2, "grace"],
    ]
    empty = f"SELECT id, name FROM {people} WHERE 0"
    assert ok(d1_stack, {"op": "raw", "sql": empty, "columnNames": True}) == [["id", "name"]]
    assert ok(d1_stack, {"op": "raw", "sql": empty}) == []


def test_duplicate_column_names_keep_every_column_in_raw_and_the_last_value_in_objects(
    d1_stack, people
):
    sql = f"SELECT a.id, b.name, a.name FROM {people} a JOIN {people} b ON b.id = a.id + 1 LIMIT 1"
    assert ok(d1_stack, {"op": "raw", "sql": sql, "columnNames": True}) == [
        ["id", "name", "name"],
        [1, "grace", "ada"],
    ]
    assert rows(d1_stack, sql) == [{"id": 1, "name": "ada"}]


def test_batch_returns_one_result_per_statement(d1_stack, people):
    results = ok(
        d1_stack,
        {
            "op": "batch",
            "statements": [
                {"sql": f"INSERT INTO {people} (name) VALUES (?)", "params": ["edsger"]},
                {"sql": f"SELECT count(*) AS n FROM {people}"},
            ],
        },
    )
    assert [r["results"] for r in results] == [[], [{"n": 4}]]
    assert results[0]["meta"]["changes"] == 1
    assert all(r["success"] is True for r in results)


def test_a_failing_batch_rolls_back_every_statement(d1_stack, people):
    message = error(
        d1_stack,
        {
            "op": "batch",
            "statements": [
                {"sql": f"INSERT INTO {people} (name) VALUES ('lost')"},
                {"sql": f"DELETE FROM {people}"},
                {"sql": "INSERT INTO no_such_table VALUES (1)"},
            ],
        },
    )
    assert message == "D1_ERROR: no such table: no_such_table: SQLITE_ERROR"
    assert rows(d1_stack, f"SELECT count(*) AS n FROM {people}") == [{"n": 3}]


def test_exec_runs_one_query_per_line(d1_stack, table):
    result = ok(
        d1_stack,
        {
            "op": "exec",
            "sql": (
                f"CREATE TABLE {table} (v);\n\n"
                f"INSERT INTO {table} VALUES (1); INSERT INTO {table} VALUES (2);\n"
                f"INSERT INTO {table} VALUES (3)"
            ),
        },
    )
    assert result["count"] == 3
    assert isinstance(result["duration"], float)
    assert rows(d1_stack, f"SELECT sum(v) AS s FROM {table}") == [{"s": 6}]


def test_exec_error_names_line_one_and_rolls_back(d1_stack, table):
    message = error(d1_stack, {"op": "exec", "sql": f"CREATE TABLE {table} (v);\nSELEC 1"})
    assert message == (
        f"D1_EXEC_ERROR: Error in line 1: CREATE TABLE {table} (v);: "
        'near "SELEC": syntax error at offset 0: SQLITE_ERROR'
    )
    assert rows(d1_stack, "SELECT count(*) AS n FROM sqlite_master WHERE name = ?", table) == [
        {"n": 0}
    ]


def test_dump_is_refused_as_production_refuses_it(d1_stack):
    assert error(d1_stack, {"op": "dump"}) == "D1_DUMP_ERROR: Status + 404"


def test_sessions_carry_monotonic_bookmarks(d1_stack, table):
    first = ok(
        d1_stack,
        {
            "op": "session",
            "steps": [
                {"op": "run", "sql": f"CREATE TABLE {table} (v)"},
            ],
        },
    )
    assert first["before"] is None
    second = ok(
        d1_stack,
        {
            "op": "session",
            "constraint": first["after"],
            "steps": [
                {"op": "run", "sql": f"INSERT INTO {table} VALUES (1)"},
                {"op": "all", "sql": f"SELECT v FROM {table}"},
            ],
        },
    )
    assert second["before"] == first["after"]
    assert second["after"] > first["after"]
    assert second["results"][1]["results"] == [{"v": 1}]
    bookmark = second["after"]
    parts = bookmark.split("-")
    assert [len(p) for p in parts] == [8, 8, 8, 32]
    assert all(int(p, 16) >= 0 for p in parts)


@pytest.mark.parametrize("constraint", ["first-primary", "first-unconstrained", "  "])
def test_sessions_start_from_a_constraint_and_learn_a_bookmark(d1_stack, constraint):
    result = ok(
        d1_stack,
        {
            "op": "session",
            "constraint": constraint,
            "steps": [
                {"op": "all", "sql": "SELECT 1 AS one"},
            ],
        },
    )
    assert result["before"] is None
    assert result["results"][0]["results"] == [{"one": 1}]
    assert len(result["after"]) == 59


def test_run_many_statements_in_one_prepare_returns_the_last(d1_stack, table):
    sql = f"CREATE TABLE {table} (v); INSERT INTO {table} VALUES (7); SELECT v FROM {table}"
    result = ok(d1_stack, {"op": "all", "sql": sql})
    assert result["results"] == [{"v": 7}]
    assert result["meta"]["changes"] == 1


@pytest.mark.parametrize("value", ["plain", "héllo wörld ✓ 🚀", "", "a\u0000b"])
def test_text_round_trips(d1_stack, value):
    assert rows(d1_stack, "SELECT ? AS v, typeof(?) AS t", value, value) == [
        {"v": value, "t": "text"}
    ]


def test_blob_round_trips_both_ways(d1_stack, table):
    ok(d1_stack, {"op": "run", "sql": f"CREATE TABLE {table} (b BLOB)"})
    ok(
        d1_stack,
        {
            "op": "run",
            "sql": f"INSERT INTO {table} VALUES (?), (?), (?)",
            "params": [blob(0, 1, 127, 128, 255), blob(), {"$buffer": [104, 105]}],
        },
    )
    assert rows(d1_stack, f"SELECT b, typeof(b) AS t, length(b) AS n FROM {table}") == [
        {"b": [0, 1, 127, 128, 255], "t": "blob", "n": 5},
        {"b": [], "t": "blob", "n": 0},
        {"b": [104, 105], "t": "blob", "n": 2},
    ]
    assert rows(d1_stack, "SELECT x'00ff10' AS b") == [{"b": [0, 255, 16]}]


def test_numbers_null_and_booleans_bind_as_production_binds_them(d1_stack):
    result = rows(
        d1_stack,
        "SELECT ? AS i, typeof(?) AS ti, ? AS f, typeof(?) AS tf, ? AS n, typeof(?) AS tn, "
        "? AS t, ? AS fa",
        42,
        42,
        1.5,
        1.5,
        None,
        None,
        True,
        False,
    )
    assert result == [
        {"i": 42, "ti": "integer", "f": 1.5, "tf": "real", "n": None, "tn": "null", "t": 1, "fa": 0}
    ]


def test_nan_and_infinity_become_null_both_ways(d1_stack):
    assert rows(d1_stack, "SELECT ? AS nan, ? AS inf", {"$nan": True}, {"$inf": 1}) == [
        {"nan": None, "inf": None}
    ]
    assert rows(d1_stack, "SELECT 1e308 * 10 AS inf, -1e308 * 10 AS ninf") == [
        {"inf": None, "ninf": None}
    ]


def test_integers_beyond_2_53_lose_precision_in_javascript_as_in_production(d1_stack):
    assert rows(d1_stack, "SELECT 9007199254740993 AS big, -9223372036854775808 AS min") == [
        {"big": 9007199254740992, "min": -9223372036854776000}
    ]


def test_non_byte_typed_arrays_become_blobs_with_uint8_semantics(d1_stack):
    # A Uint16Array's elements arrive as their numbers; each is kept mod 256 (Uint8Array).
    assert rows(d1_stack, "SELECT ? AS b", {"$u16": [1, 256, 257, 511, 65535]}) == [
        {"b": [1, 0, 1, 255, 255]}
    ]


def test_unsupported_javascript_types_are_refused_by_the_binding(d1_stack):
    assert error(d1_stack, {"op": "all", "sql": "SELECT ?", "params": [{"$bigint": "1"}]}) == (
        "D1_TYPE_ERROR: Type 'bigint' not supported for value '1'"
    )
    assert error(d1_stack, {"op": "all", "sql": "SELECT ?", "params": [{"$undefined": True}]}) == (
        "D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'"
    )


def test_empty_results(d1_stack, people):
    assert rows(d1_stack, f"SELECT * FROM {people} WHERE name = 'nobody'") == []


def test_a_lone_surrogate_in_a_parameter_is_bound_as_the_worker_reads_it_back(d1_stack):
    # JSON.parse accepts "\ud800" alone; production binds its WTF-8 bytes, which read back as
    # three U+FFFD: so does the shim, storing those.
    result = ok(
        d1_stack,
        {"op": "all", "sql": "SELECT ? AS s, length(?) AS n", "params": ["a\ud800b", "\udc00"]},
    )
    assert result["results"] == [{"s": "a\ufffd\ufffd\ufffdb", "n": 3}]
