"""The explorer applies a D1 database's pending migrations as `wrangler d1 migrations apply`
does: the folder and tracking table its Worker's config names (`migrations_dir`,
`migrations_table`), files in name order, each with its tracking row in one transaction.
Looking writes nothing; a failing migration (or one that cannot be read) stops the run and
is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.explorer import signed_in
from tests.stack import WORKERS, RunningStack, shim_post
from tests.v4 import groundflare

DATABASE = "00000000-0000-4000-8000-00000000e301"
PAGE = f"/explorer/d1/{DATABASE}"


def project(folder: Path) -> Path:
    """A Worker whose database keeps its migrations in `db/migrations`, tracked in
    `schema_history`; the second migration fails."""
    (folder / "db" / "migrations").mkdir(parents=True)
    migrations = {
        "0001_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);",
        "0002_broken.sql": "INSERT INTO nowhere VALUES (1);",
        "0003_posts.sql": "CREATE TABLE posts (id INTEGER PRIMARY KEY);",
    }
    for name, sql in migrations.items():
        (folder / "db" / "migrations" / name).write_text(sql + "\n")
    config = folder / "wrangler.toml"
    config.write_text(
        f"""
name = "migrated"
main = "{WORKERS / "d1" / "worker.js"}"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "migrated"
database_id = "{DATABASE}"
migrations_dir = "db/migrations"
migrations_table = "schema_history"
"""
    )
    return config


def tables(stack: RunningStack) -> list[str]:
    sql = "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"
    path = f"/client/v4/accounts/local/d1/database/{DATABASE}/query"
    status, answer = shim_post(stack, path, json.dumps({"sql": sql}).encode())
    assert status == 200, answer
    return [row["name"] for row in answer["result"][0]["results"]]


def outcome(headers: dict[str, str]) -> dict[str, Any]:
    """The notice or problem a write's redirect carries back to the page."""
    return {k: v[0] for k, v in parse_qs(urlsplit(headers["Location"]).query).items()}


def test_pending_migrations_are_applied_in_order_and_a_failure_stops_them(
    tmp_path: Path, stacks: Any
) -> None:
    config = project(tmp_path / "project")
    stack = stacks([config], tmp_path / "data")
    browser = signed_in(stack)
    status, _, page = browser.open(PAGE)
    assert status == 200
    text = page.decode()
    assert str(tmp_path / "project" / "db" / "migrations") in text
    assert "schema_history" in text and text.count(">pending<") == 3
    assert "Apply 3 pending migration(s)" in text
    # Looking created no tracking table.
    assert "schema_history" not in tables(stack)

    apply = {"source": "0"}
    assert browser.form(f"{PAGE}/migrations", apply)[0] == 403
    apply["csrf"] = browser.csrf(PAGE)
    status, headers, _ = browser.form(f"{PAGE}/migrations", apply)
    assert status == 303
    problem = outcome(headers)["problem"]
    assert problem.startswith("0002_broken.sql failed (1 applied before it): ")
    assert "no such table: nowhere" in problem
    assert {"users", "schema_history"} <= set(tables(stack))
    assert "posts" not in tables(stack)

    broken = tmp_path / "project" / "db" / "migrations" / "0002_broken.sql"
    broken.write_bytes(b"\xff not UTF-8")
    problem = outcome(browser.form(f"{PAGE}/migrations", apply)[1])["problem"]
    assert problem.startswith("0002_broken.sql cannot be read: ")
    broken.write_text("ALTER TABLE users ADD COLUMN email TEXT;\n")
    status, headers, _ = browser.form(f"{PAGE}/migrations", apply)
    assert outcome(headers)["notice"] == "2 migration(s) applied: 0002_broken.sql, 0003_posts.sql"
    assert "posts" in tables(stack)
    text = browser.open(PAGE)[2].decode()
    assert ">pending<" not in text and "Apply" not in text

    # wrangler's tracking table, so the CLI (and wrangler) see nothing left to apply.
    listed = groundflare(
        "d1", "migrations", "list", "DB", "--config", str(config), "--data-dir", str(stack.data_dir)
    )
    assert listed.returncode == 0, listed.stderr
    assert "No migrations to apply!" in listed.stdout


def test_a_database_without_a_migrations_folder_says_where_one_would_be(
    tmp_path: Path, stacks: Any
) -> None:
    config = project(tmp_path / "project")
    for migration in (tmp_path / "project" / "db" / "migrations").iterdir():
        migration.unlink()
    stack = stacks([config], tmp_path / "data")
    text = signed_in(stack).open(PAGE)[2].decode()
    assert str(tmp_path / "project" / "db" / "migrations") in text
    assert "No migrations in this folder." in text
    assert "Apply" not in text
