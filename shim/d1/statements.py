"""Splitting one SQL string into statements the way SQLite's own tokenizer sees them."""

from __future__ import annotations

import re

import apsw

# Tokens inside which a `;` never ends a statement; only bare `;` are cut candidates.
_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|/\*.*?(?:\*/|\Z)|;",
    re.DOTALL,
)
_BLANK = re.compile(r"(?:\s|;|--[^\n]*|/\*.*?(?:\*/|\Z))*\Z", re.DOTALL)


def is_blank(sql: str) -> bool:
    """Only whitespace, comments and semicolons: nothing SQLite would run."""
    return _BLANK.match(sql) is not None


def split(sql: str) -> list[str]:
    """The non-blank statements of `sql`, in order.

    A `;` ends a statement only where sqlite3_complete agrees, which keeps
    `CREATE TRIGGER ... BEGIN ...; END;` whole.
    """
    if ";" not in sql:
        return [] if is_blank(sql) else [sql]
    statements: list[str] = []
    start = 0
    for match in _TOKENS.finditer(sql):
        if match.group(0) != ";":
            continue
        end = match.end()
        if apsw.complete(sql[start:end]):
            if not is_blank(sql[start:end]):
                statements.append(sql[start:end])
            start = end
    if not is_blank(sql[start:]):
        statements.append(sql[start:])
    return statements
