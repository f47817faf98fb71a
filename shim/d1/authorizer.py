"""What SQL from a Worker may do: production D1's rules (workerd's SqliteDatabase).

Mirrors workerd `src/workerd/util/sqlite.c++` (`isAuthorized`, the allowed
function and pragma lists) with the Durable Object/D1 regulator: names starting
with `_cf_` are reserved and user transaction statements are refused. Anything
that could reach another file (ATTACH, VACUUM INTO, load_extension, pragmas
such as journal_mode or temp_store_directory) is denied.
"""

from __future__ import annotations

import apsw

TRANSACTION_MESSAGE = (
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing."
)

# workerd's ALLOWED_SQLITE_FUNCTIONS, minus load_extension (workerd's SQLite is built
# without extension loading; ours may not be, so the function itself is refused here).
ALLOWED_FUNCTIONS = frozenset(
    {
        "abs",
        "changes",
        "char",
        "coalesce",
        "concat",
        "concat_ws",
        "format",
        "glob",
        "hex",
        "ifnull",
        "iif",
        "instr",
        "last_insert_rowid",
        "length",
        "like",
        "likelihood",
        "likely",
        "lower",
        "ltrim",
        "max_scalar",
        "min_scalar",
        "nullif",
        "octet_length",
        "printf",
        "quote",
        "random",
        "randomblob",
        "replace",
        "round",
        "rtrim",
        "sign",
        "soundex",
        "substr",
        "substring",
        "total_changes",
        "trim",
        "typeof",
        "unhex",
        "unicode",
        "unlikely",
        "upper",
        "zeroblob",
        "date",
        "time",
        "datetime",
        "julianday",
        "unixepoch",
        "strftime",
        "timediff",
        "current_date",
        "current_time",
        "current_timestamp",
        "avg",
        "count",
        "group_concat",
        "max",
        "min",
        "string_agg",
        "sum",
        "total",
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "ceil",
        "cos",
        "cosh",
        "degrees",
        "exp",
        "floor",
        "ln",
        "log",
        "log2",
        "mod",
        "pi",
        "pow",
        "radians",
        "sin",
        "sinh",
        "sqrt",
        "tan",
        "tanh",
        "trunc",
        "json",
        "jsonb",
        "json_array",
        "jsonb_array",
        "json_array_length",
        "json_extract",
        "jsonb_extract",
        "->",
        "->>",
        "json_insert",
        "jsonb_insert",
        "json_object",
        "jsonb_object",
        "json_patch",
        "jsonb_patch",
        "json_remove",
        "jsonb_remove",
        "json_replace",
        "jsonb_replace",
        "json_set",
        "jsonb_set",
        "json_type",
        "json_valid",
        "json_quote",
        "json_group_array",
        "jsonb_group_array",
        "json_group_object",
        "jsonb_group_object",
        "json_each",
        "json_tree",
        "match",
        "highlight",
        "bm25",
        "snippet",
        "rtreecheck",
        "sqlite_rename_column",
        "sqlite_rename_table",
        "sqlite_rename_test",
        "sqlite_drop_column",
        "sqlite_rename_quotefix",
    }
)

_NO_ARG = "no-arg"
_BOOLEAN = "boolean"
_OBJECT = "object"
_OPTIONAL_OBJECT = "optional-object"
_NUMBER = "null-or-number"
_NUMBER_OR_OBJECT = "null-number-or-object"

ALLOWED_PRAGMAS = {
    "data_version": _NO_ARG,
    "page_size": _NO_ARG,
    "case_sensitive_like": _BOOLEAN,
    "foreign_keys": _BOOLEAN,
    "defer_foreign_keys": _BOOLEAN,
    "ignore_check_constraints": _BOOLEAN,
    "legacy_alter_table": _BOOLEAN,
    "recursive_triggers": _BOOLEAN,
    "reverse_unordered_selects": _BOOLEAN,
    "foreign_key_check": _OPTIONAL_OBJECT,
    "foreign_key_list": _OBJECT,
    "index_info": _OBJECT,
    "index_list": _OBJECT,
    "index_xinfo": _OBJECT,
    "quick_check": _NUMBER_OR_OBJECT,
    "optimize": _NUMBER,
}

_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")
_VIRTUAL_TABLE_MODULES = frozenset({"fts5", "fts5vocab", "rtree", "rtree_i32"})


def is_allowed_name(name: str) -> bool:
    return name[:4].lower() != "_cf_"


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _pragma_allowed(pragma: str, arg: str | None) -> bool:
    if pragma == "table_list":
        return True
    if pragma in ("table_info", "table_xinfo"):
        return arg is not None and is_allowed_name(arg)
    signature = ALLOWED_PRAGMAS.get(pragma)
    if signature is None:
        return False
    if arg is None:
        return signature not in (_OBJECT,)
    if signature == _NO_ARG:
        return False
    if signature == _BOOLEAN:
        value = arg
        if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
            value = value[1:-1]
        return value.lower().startswith(_BOOLEAN_WORDS)
    if signature in (_OBJECT, _OPTIONAL_OBJECT):
        return is_allowed_name(arg)
    if signature == _NUMBER:
        return _is_int(arg)
    return (arg.isdigit()) or is_allowed_name(arg)


class Authorizer:
    """An apsw authorizer; `trusted` lets groundflare's own statements through."""

    def __init__(self) -> None:
        self.trusted = False
        self.denial: str | None = None

    def __call__(
        self, action: int, one: str | None, two: str | None, db: str | None, trigger: str | None
    ) -> int:
        if self.trusted:
            return apsw.SQLITE_OK
        return apsw.SQLITE_OK if self._allowed(action, one, two, db) else apsw.SQLITE_DENY

    def _allowed(self, action: int, one: str | None, two: str | None, db: str | None) -> bool:
        if action in (apsw.SQLITE_ALTER_TABLE, apsw.SQLITE_DETACH):
            one, two, db = two, db, one
        if db is not None and db != "main":
            if db != "temp":
                return False
            return action in (apsw.SQLITE_READ, apsw.SQLITE_UPDATE) and is_allowed_name(one or "")
        match action:
            case apsw.SQLITE_SELECT | apsw.SQLITE_RECURSIVE | apsw.SQLITE_ANALYZE:
                return True
            case (
                apsw.SQLITE_CREATE_TABLE
                | apsw.SQLITE_DELETE
                | apsw.SQLITE_DROP_TABLE
                | apsw.SQLITE_INSERT
                | apsw.SQLITE_CREATE_VIEW
                | apsw.SQLITE_DROP_VIEW
                | apsw.SQLITE_REINDEX
                | apsw.SQLITE_READ
                | apsw.SQLITE_UPDATE
            ):
                return is_allowed_name(one or "")
            case apsw.SQLITE_ALTER_TABLE:
                return is_allowed_name(one or "") and (two is None or is_allowed_name(two))
            case (
                apsw.SQLITE_CREATE_INDEX
                | apsw.SQLITE_DROP_INDEX
                | apsw.SQLITE_CREATE_TRIGGER
                | apsw.SQLITE_DROP_TRIGGER
            ):
                return is_allowed_name(one or "") and is_allowed_name(two or "")
            case apsw.SQLITE_TRANSACTION | apsw.SQLITE_SAVEPOINT:
                self.denial = TRANSACTION_MESSAGE
                return False
            case apsw.SQLITE_PRAGMA:
                return _pragma_allowed((one or "").lower(), two)
            case apsw.SQLITE_FUNCTION:
                return (two or "").lower() in ALLOWED_FUNCTIONS
            case apsw.SQLITE_CREATE_VTABLE | apsw.SQLITE_DROP_VTABLE:
                return (two or "").lower() in _VIRTUAL_TABLE_MODULES and is_allowed_name(one or "")
        return False
