"""A database as the SQL text `wrangler d1 export` writes (production's dump format, which
Miniflare reproduces): `PRAGMA defer_foreign_keys=TRUE;`, each table's schema then its
rows as `INSERT INTO "t" ("a","b") VALUES(...);`, then indexes, triggers and views.
One statement per line; runs on the database's thread and writes as it reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import apsw

from groundflare.shim.d1.errors import D1Error

Execute = Callable[..., apsw.Cursor]
_QUOTE_OR_NEWLINE = re.compile(r"'|\n|\r")
_CREATE_QUOTED = re.compile(r"CREATE TABLE ['\"]")


def quote_id(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """One cell as SQL text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        # repr keeps a REAL a REAL on the way back in; SQLite reads 1e999 as infinity.
        return repr(value) if math.isfinite(value) else ("1e999" if value > 0 else "-1e999")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    return _text(str(value))


def _text(value: str) -> str:
    """A quoted string; newlines become escapes put back with replace(), as in the dump."""
    seen = {"\n": False, "\r": False}

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char == "'":
            return "''"
        seen[char] = True
        return "\\n" if char == "\n" else "\\r"

    out = "'" + _QUOTE_OR_NEWLINE.sub(escape, value) + "'"
    if seen["\r"]:
        out = f"replace({out},'\\r',char(13))"
    if seen["\n"]:
        out = f"replace({out},'\\n',char(10))"
    return out


def statements(
    execute: Execute, tables: list[str], no_schema: bool, no_data: bool
) -> Iterator[str]:
    wanted = set(tables)
    yield "PRAGMA defer_foreign_keys=TRUE;"
    listed = list(
        execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql NOT NULL "
            "ORDER BY tbl_name = 'sqlite_sequence', rowid"
        )
    )
    for table, sql in listed:
        if wanted and table not in wanted:
            continue
        if table == "sqlite_sequence":
            if not no_schema:
                yield "DELETE FROM sqlite_sequence;"
        elif table.startswith("sqlite_stat"):
            if not no_schema:
                yield "ANALYZE sqlite_schema;"
        else:
            if sql.startswith("CREATE VIRTUAL TABLE"):
                raise D1Error("D1 Export error: cannot export databases with Virtual Tables (fts5)")
            if table.startswith(("_cf_", "sqlite_")):
                continue
            if not no_schema:
                quoted = _CREATE_QUOTED.match(sql) is not None
                yield f"CREATE TABLE IF NOT EXISTS {sql[13:]};" if quoted else f"{sql};"
        if no_data:
            continue
        columns = [row[1] for row in execute(f"PRAGMA table_info={quote_id(table)}")]
        names = ",".join(quote_id(c) for c in columns)
        select = f"SELECT {', '.join(quote_id(c) for c in columns)} FROM {quote_id(table)}"
        for row in execute(select):
            cells = ",".join(literal(cell) for cell in row)
            yield f"INSERT INTO {quote_id(table)} ({names}) VALUES({cells});"
    if not no_schema:
        rest = execute(
            "SELECT name, sql FROM sqlite_schema WHERE sql NOT NULL "
            "AND type IN ('index', 'trigger', 'view') ORDER BY type COLLATE NOCASE"
        )
        for name, sql in rest:
            if not wanted or name in wanted:
                yield f"{sql};"
