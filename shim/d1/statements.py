"""Splitting one SQL string into statements the way SQLite's own tokenizer sees them.

Two readings: `split` (the v4 API and imports: every statement, blank parts skipped) and
`multi` (a query object of the binding: workerd's rule for several statements in one call).
"""

from __future__ import annotations

import re

import apsw

# Tokens inside which a `;` never ends a statement; only bare `;` are cut candidates.
_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|/\*.*?(?:\*/|\Z)|;",
    re.DOTALL,
)
# SQLite's own whitespace (its tokenizer's CC_SPACE), not Unicode's.
_SQLITE_SPACE = " \t\n\v\f\r"
# A block comment ends at its first `*/` (or, unterminated, at the end of the text).
_BLANK = re.compile(r"(?:[ \t\n\v\f\r]|;|--[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/|\Z))*\Z")
# JavaScript's whitespace and line terminators (String.prototype.trim, \s).
_JS_SPACE_CHARS = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
_JS_SPACE = re.escape(_JS_SPACE_CHARS)
# D1 drops a query whose SQL is whitespace and indented `--` lines only (as Miniflare's
# `sql.replace(/^\s+--.*/gm, "").trim()`): a `--` line at column 0 is not dropped.
_INDENTED_COMMENT = re.compile(
    rf"(?:(?<=[\n\r\u2028\u2029])|\A)[{_JS_SPACE}]+--[^\n\r\u2028\u2029]*"
)

NO_STATEMENT_MESSAGE = "SQL code did not contain a statement."


class NoStatement(Exception):
    """Where workerd expected a statement (the start, or text after the last `;`), none was."""


def is_blank(sql: str) -> bool:
    """Only whitespace, comments and semicolons: nothing SQLite would run."""
    return _BLANK.match(sql) is not None


def is_dropped(sql: str) -> bool:
    """A query object D1 leaves out before running anything (its filter, not SQLite's)."""
    return not _INDENTED_COMMENT.sub("", sql).strip(_JS_SPACE_CHARS)


def _statement_end(sql: str) -> int:
    """Where the first statement of `sql` ends: after its `;`, or at the end of the text.
    Leading blanks and bare `;` belong to it, as sqlite3_prepare skips them."""
    start = 0
    for match in _TOKENS.finditer(sql):
        if match.group(0) != ";":
            continue
        end = match.end()
        if apsw.complete(sql[start:end]) and not is_blank(sql[start:end]):
            return end
    return len(sql)


def multi(sql: str) -> list[str]:
    """The statements of one query object as workerd's prepare (MULTI) reads them: one
    statement, then whitespace; anything else after it must hold the next statement. So a
    trailing comment or a second `;` is an error there (`SELECT 1; -- note`, `SELECT 1;;`),
    while a leading comment is not. Raises NoStatement."""
    parts: list[str] = []
    rest = sql
    while True:
        if is_blank(rest):
            raise NoStatement(NO_STATEMENT_MESSAGE)
        end = _statement_end(rest)
        parts.append(rest[:end])
        rest = rest[end:].lstrip(_SQLITE_SPACE)
        if not rest:
            return parts


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
