"""D1 migrations in wrangler's format, for everything that applies them (`groundflare d1
migrations`, the explorer, `D1Database.migrate()`): a folder of `*.sql` files applied in
name order, each recorded in a tracking table (`id, name, applied_at`) so a database moves
between wrangler and groundflare."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

# wrangler's defaults for `migrations_dir` and `migrations_table`.
DEFAULT_DIR = "migrations"
DEFAULT_TABLE = "d1_migrations"


class MigrationsSource(BaseModel):
    """Where one Worker's `[[d1_databases]]` entry keeps a database's migrations."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    database_id: str
    folder: Path
    table: str = DEFAULT_TABLE


def migration_files(folder: Path) -> list[str]:
    """The folder's migrations, in the order they apply; none when it does not exist."""
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".sql"))


def tracking_table_sql(table: str) -> str:
    """wrangler's statement for its tracking table, as it runs it before listing."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table}(\n"
        "\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "\t\tname       TEXT UNIQUE,\n"
        "\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL\n);"
    )


def applying_sql(folder: Path, name: str, table: str) -> str:
    """One migration and the row that records it, to run as one query (one transaction)."""
    sql = (folder / name).read_text(encoding="utf-8")
    quoted = name.replace("'", "''")
    return f"{sql}\nINSERT INTO {table} (name) values ('{quoted}');"
