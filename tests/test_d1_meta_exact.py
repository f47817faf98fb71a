"""D1's meta as production computes it, through real workerd: rows read and written by
SQLite's own counters (workerd's patched SQLite, our build), the database size in pages in use,
and changed_db from changes, last_row_id and that size."""

from __future__ import annotations

import apsw

from groundflare.shim.d1 import meter
from tests.d1 import ok


def run(stack, sql, *params):
    return ok(stack, {"op": "run", "sql": sql, "params": list(params)})


def counts(result):
    meta = result["meta"]
    return meta["rows_read"], meta["rows_written"]


def test_rows_read_and_written_are_productions_counts(d1_stack, table):
    other = f"{table}_other"
    # Writing a table's row into sqlite_schema: one row read, two written (as on D1).
    assert counts(run(d1_stack, f"CREATE TABLE {table} (a INT, b INT)")) == (1, 2)
    assert counts(run(d1_stack, f"CREATE TABLE {other} (c TEXT)")) == (1, 2)
    # A plain INSERT reads nothing.
    assert counts(run(d1_stack, f"INSERT INTO {table} VALUES (1, 2), (3, 4)")) == (0, 2)
    assert counts(run(d1_stack, f"INSERT INTO {other} VALUES ('x'), ('y'), ('z')")) == (0, 3)
    # A join visits 2 rows of one table and 3 of the other for each: 2 + 6.
    assert counts(run(d1_stack, f"SELECT * FROM {table}, {other}")) == (8, 0)
    # An index write counts as a row written.
    run(d1_stack, f"CREATE INDEX {table}_b ON {table} (b)")
    assert counts(run(d1_stack, f"INSERT INTO {table} VALUES (5, 6)")) == (0, 2)
    assert counts(run(d1_stack, f"SELECT count(*) FROM {table}")) == (3, 0)


def test_delete_with_limit_is_accepted_as_on_d1(d1_stack, table):
    run(d1_stack, f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, done INT)")
    run(d1_stack, f"INSERT INTO {table} (done) VALUES (1), (1), (0)")
    deleted = run(d1_stack, f"DELETE FROM {table} WHERE done = 1 LIMIT 1")
    assert deleted["meta"]["changes"] == 1
    updated = run(d1_stack, f"UPDATE {table} SET done = 2 WHERE done = 1 LIMIT 1")
    assert updated["meta"]["changes"] == 1
    left = ok(d1_stack, {"op": "all", "sql": f"SELECT done FROM {table} ORDER BY id"})
    assert left["results"] == [{"done": 2}, {"done": 0}]


def test_drop_table_frees_pages_and_reports_a_change(d1_stack, table):
    run(d1_stack, f"CREATE TABLE {table} (v TEXT)")
    filled = run(
        d1_stack,
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) "
        f"INSERT INTO {table} SELECT zeroblob(3000) FROM n",
    )
    dropped = run(d1_stack, f"DROP TABLE {table}")
    meta = dropped["meta"]
    assert meta["changes"] == 0
    assert meta["last_row_id"] == filled["meta"]["last_row_id"]
    # The file keeps its pages; the freed ones are on the freelist, not in use.
    assert meta["size_after"] < filled["meta"]["size_after"]
    assert meta["changed_db"] is True
    assert meta["rows_written"] == 0


def test_a_read_reports_no_change_and_the_same_size(d1_stack, table):
    created = run(d1_stack, f"CREATE TABLE {table} (v INT)")
    read = ok(d1_stack, {"op": "all", "sql": f"SELECT * FROM {table}"})
    assert read["meta"]["changed_db"] is False
    assert read["meta"]["size_after"] == created["meta"]["size_after"]
    assert counts(read) == (1, 0)


def test_several_statements_in_one_query_report_the_last_ones_rows(d1_stack, table):
    run(d1_stack, f"CREATE TABLE {table} (v INT)")
    run(d1_stack, f"INSERT INTO {table} VALUES (1), (2), (3)")
    both = run(d1_stack, f"INSERT INTO {table} VALUES (4); SELECT * FROM {table} WHERE v > 2")
    assert both["results"] == [{"v": 3}, {"v": 4}]
    assert both["meta"]["changes"] == 1
    # The SELECT's scan: Rewind and three Next over four rows; the INSERT's write is not in it.
    assert counts(both) == (4, 0)


def test_the_size_read_without_a_statement_is_what_the_pragmas_say(tmp_path):
    """size_after comes from our SQLite's page status inside a transaction: it must agree
    with PRAGMA page_count less freelist_count through growth, deletes and a DROP TABLE."""
    conn = apsw.Connection(str(tmp_path / "size.sqlite"))
    conn.execute("PRAGMA journal_mode = WAL")
    assert meter.pages_in_use(conn) is None  # no transaction: the caller asks with SQL

    def pragmas() -> int:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        return pages - free

    conn.execute("BEGIN")
    conn.execute("CREATE TABLE t (v BLOB)")
    sizes = [(meter.pages_in_use(conn), pragmas())]
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)"
        " INSERT INTO t SELECT randomblob(3000) FROM n"
    )
    sizes.append((meter.pages_in_use(conn), pragmas()))
    conn.execute("DELETE FROM t WHERE rowid % 2 = 0")
    sizes.append((meter.pages_in_use(conn), pragmas()))
    conn.execute("DROP TABLE t")
    sizes.append((meter.pages_in_use(conn), pragmas()))
    conn.execute("COMMIT")
    assert all(status == sql for status, sql in sizes), sizes
    created, grown, deleted, dropped = (sql for _, sql in sizes)
    assert grown > deleted > dropped and grown > created
