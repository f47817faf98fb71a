"""SQL from a Worker cannot reach the host file system or groundflare's own state."""

from __future__ import annotations

import pytest

from tests.d1 import error, ok, rows

NOT_AUTHORIZED = "D1_ERROR: not authorized: SQLITE_AUTH"


def all_(sql):
    return {"op": "all", "sql": sql}


def test_attach_is_refused_and_creates_no_file(d1_stack, tmp_path):
    target = tmp_path / "attached.sqlite"
    assert error(d1_stack, all_(f"ATTACH DATABASE '{target}' AS x")) == NOT_AUTHORIZED
    assert error(d1_stack, all_("DETACH DATABASE main")) == NOT_AUTHORIZED
    assert not target.exists()


def test_vacuum_into_is_refused_and_creates_no_file(d1_stack, tmp_path):
    """Every query runs in a transaction, as on production D1, which gives the same text."""
    target = tmp_path / "copy.sqlite"
    assert error(d1_stack, all_(f"VACUUM INTO '{target}'")) == (
        "D1_ERROR: cannot VACUUM from within a transaction: SQLITE_ERROR"
    )
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def function_refused(name: str) -> str:
    return f"D1_ERROR: not authorized to use function: {name} at offset 7: SQLITE_ERROR"


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("load_extension", "'/tmp/evil.so'"),
        ("sqlite_version", ""),
        ("sqlite_compileoption_used", "'ENABLE_FTS5'"),
    ],
)
def test_functions_outside_productions_allowlist_are_refused(d1_stack, function, args):
    assert error(d1_stack, all_(f"SELECT {function}({args})")) == function_refused(function)


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA journal_mode = DELETE",
        "PRAGMA journal_mode",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA writable_schema = ON",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "PRAGMA database_list",
        "PRAGMA page_size = 65536",
        "SELECT * FROM pragma_page_count",
        "CREATE TEMP TABLE scratch (x)",
    ],
)
def test_pragmas_outside_productions_allowlist_are_refused(d1_stack, sql):
    assert error(d1_stack, all_(sql)) == NOT_AUTHORIZED


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("PRAGMA foreign_keys", [{"foreign_keys": 1}]),
        ("PRAGMA case_sensitive_like = true", []),
        ("PRAGMA quick_check", [{"quick_check": "ok"}]),
        ("PRAGMA optimize", []),
        ("SELECT json_extract('{\"a\": [1, 2]}', '$.a[1]') AS v", [{"v": 2}]),
        (
            "SELECT upper('x') AS u, round(2.5) AS r, unixepoch('2024-01-01') AS t",
            [{"u": "X", "r": 3.0, "t": 1704067200}],
        ),
    ],
)
def test_productions_allowed_pragmas_and_functions_work(d1_stack, sql, expected):
    assert rows(d1_stack, sql) == expected


def test_reserved_cf_names_are_refused(d1_stack):
    assert error(d1_stack, all_("CREATE TABLE _cf_KV (k, v)")) == NOT_AUTHORIZED
    assert error(d1_stack, all_("CREATE TABLE _CF_secret (k)")) == NOT_AUTHORIZED


def test_fts5_virtual_tables_are_allowed_and_others_are_not(d1_stack, table):
    ok(d1_stack, all_(f"CREATE VIRTUAL TABLE {table} USING fts5(body)"))
    ok(d1_stack, all_(f"INSERT INTO {table} (body) VALUES ('local first workers')"))
    assert rows(d1_stack, f"SELECT body FROM {table} WHERE {table} MATCH 'workers'") == [
        {"body": "local first workers"}
    ]
    assert error(d1_stack, all_(f"CREATE VIRTUAL TABLE {table}_s USING dbstat")) == NOT_AUTHORIZED
