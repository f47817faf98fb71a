"""`groundflare d1 ...`: wrangler's D1 verbs and flags, on a running stack (through its v4
API) or a stopped data dir (the same routes, in-process, under the data-dir lock)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from groundflare.commands.api_client import (
    CONFIG_OPTION,
    Client,
    data_client,
    table,
    v4_result,
)
from groundflare.commands.common import DATA_DIR_OPTION, fail
from groundflare.contracts.d1_migrations import (
    DEFAULT_DIR,
    DEFAULT_TABLE,
    applying_sql,
    migration_files,
    tracking_table_sql,
)
from groundflare.workerd_config.wrangler import ConfigError, read_config

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


@dataclass(frozen=True)
class Target:
    """A database as the command line names it, resolved through wrangler.toml."""

    ref: str  # what the API is asked for: the database_id, else the name
    migrations_dir: Path
    migrations_table: str


def target(name: str, configs: tuple[Path, ...]) -> Target:
    """`name` is a binding or database_name of the config (as wrangler reads it), else a
    database name or uuid the stack knows."""
    for config in configs:
        try:
            entries = read_config(config).get("d1_databases") or []
        except ConfigError as exc:
            fail("config", str(exc), 2)
        for entry in entries:
            if name in (entry.get("binding"), entry.get("database_name")):
                folder = config.parent / (entry.get("migrations_dir") or DEFAULT_DIR)
                return Target(
                    ref=entry.get("database_id") or entry.get("database_name") or name,
                    migrations_dir=folder,
                    migrations_table=entry.get("migrations_table") or DEFAULT_TABLE,
                )
    return Target(name, Path(DEFAULT_DIR), DEFAULT_TABLE)


def query(client: Client, ref: str, sql: str) -> list[dict[str, Any]]:
    answer = client.request(
        "POST",
        client.account_path(f"/d1/database/{ref}/query"),
        json.dumps({"sql": sql}).encode(),
        {"Content-Type": "application/json"},
    )
    return v4_result(answer, "d1")


def import_file(client: Client, ref: str, path: Path, quiet: bool = False) -> dict[str, Any]:
    """wrangler's import flow: init, upload, ingest, poll until complete (with progress)."""
    data = path.read_bytes()
    etag = hashlib.md5(data).hexdigest()
    post = _poster(client, ref, "import")
    init = post({"action": "init", "etag": etag})
    uploaded = client.request("PUT", client.local_path(init["upload_url"]), data)
    if uploaded.status != 200:
        fail("d1", f"the upload of {path} failed: HTTP {uploaded.status}")
    state = post({"action": "ingest", "etag": etag, "filename": init["filename"]})
    while state.get("status") == "active":
        if not quiet:
            for line in state.get("messages", []):
                click.echo(f"  {line}", err=True)
        state = post({"action": "poll", "current_bookmark": state.get("at_bookmark")})
    if not state.get("success") or state.get("status") != "complete":
        fail("d1", state.get("error") or f"the import ended as {state.get('status')!r}")
    return state["result"]


def _poster(client: Client, ref: str, action: str) -> Any:
    def post(body: dict[str, Any]) -> dict[str, Any]:
        answer = client.request(
            "POST",
            client.account_path(f"/d1/database/{ref}/{action}"),
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        return v4_result(answer, "d1")

    return post


@click.group()
def d1() -> None:
    """D1 databases: list, execute SQL, export, import, migrations (wrangler's verbs)."""


@d1.command("list")
@JSON_OPTION
@CONFIG_OPTION
@DATA_DIR_OPTION
def d1_list(as_json: bool, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Every database of the data dir: wrangler.toml's and those created through the API."""
    client = data_client(configs, data_dir)
    with client.session():
        found = v4_result(client.request("GET", client.account_path("/d1/database")), "d1")
    click.echo(json.dumps(found, indent=2) if as_json else table(found))


@d1.command("execute")
@click.argument("database")
@click.option("--command", "sql", help="The SQL to run (several statements allowed).")
@click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A .sql file to run, in one transaction (wrangler's import flow).",
)
@JSON_OPTION
@click.option("--local/--remote", default=True, hidden=True)
@CONFIG_OPTION
@DATA_DIR_OPTION
def d1_execute(
    database: str,
    sql: str | None,
    file: Path | None,
    as_json: bool,
    local: bool,
    configs: tuple[Path, ...],
    data_dir: Path | None,
) -> None:
    """Run SQL on a database: a table per statement for people, --json for scripts."""
    if (sql is None) == (file is None):
        fail("d1", "give exactly one of --command and --file", 2)
    ref = target(database, configs).ref
    client = data_client(configs, data_dir)
    with client.session():
        if file is not None:
            result = import_file(client, ref, file, quiet=as_json)
            summary = [
                {
                    "Total queries executed": result["num_queries"],
                    "Rows read": result["meta"]["rows_read"],
                    "Rows written": result["meta"]["rows_written"],
                }
            ]
            click.echo(
                json.dumps(
                    [{"results": summary, "success": True, "meta": result["meta"]}], indent=2
                )
                if as_json
                else table(summary)
            )
            return
        assert sql is not None
        results = query(client, ref, sql)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for result in results:
        if result["results"]:
            click.echo(table(result["results"]))
    read = sum(r["meta"]["rows_read"] for r in results)
    written = sum(r["meta"]["rows_written"] for r in results)
    count = len(results)
    click.echo(
        f"{count} statement{'s' if count != 1 else ''} run: "
        f"{read} rows read, {written} rows written",
        err=True,
    )


@d1.command("import")
@click.argument("database")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@CONFIG_OPTION
@DATA_DIR_OPTION
def d1_import(database: str, file: Path, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Run a .sql file (a dump, a seed) in one transaction, with progress."""
    client = data_client(configs, data_dir)
    with client.session():
        result = import_file(client, target(database, configs).ref, file)
    meta = result["meta"]
    click.echo(
        f"Executed {result['num_queries']} queries in {meta['duration']:.0f} ms "
        f"({meta['rows_read']} rows read, {meta['rows_written']} rows written)"
    )


@d1.command("export")
@click.argument("database")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where the .sql file goes.",
)
@click.option("--table", "tables", multiple=True, help="Only this table (repeatable).")
@click.option("--no-schema", is_flag=True, help="Only the data.")
@click.option("--no-data", is_flag=True, help="Only the schema.")
@CONFIG_OPTION
@DATA_DIR_OPTION
def d1_export(
    database: str,
    output: Path,
    tables: tuple[str, ...],
    no_schema: bool,
    no_data: bool,
    configs: tuple[Path, ...],
    data_dir: Path | None,
) -> None:
    """Write a database as SQL (wrangler's dump format), with progress."""
    client = data_client(configs, data_dir)
    options = {"no_schema": no_schema, "no_data": no_data, "tables": list(tables)}
    with client.session():
        post = _poster(client, target(database, configs).ref, "export")
        state = post({"output_format": "polling", "dump_options": options})
        while state.get("status") == "active":
            for line in state.get("messages", []):
                click.echo(f"  {line}", err=True)
            state = post(
                {
                    "output_format": "polling",
                    "dump_options": options,
                    "current_bookmark": state.get("at_bookmark"),
                }
            )
        if state.get("status") != "complete":
            fail("d1", state.get("error") or f"the export ended as {state.get('status')!r}")
        answer = client.request("GET", client.local_path(state["result"]["signed_url"]))
    if answer.status != 200:
        fail("d1", f"the download failed: HTTP {answer.status}")
    output.write_bytes(answer.body)
    click.echo(f"Exported to {output} ({len(answer.body)} bytes)")


# ---- migrations: wrangler's format and tracking table ----


@d1.group("migrations")
def migrations() -> None:
    """Migrations in wrangler's format (migrations_dir, migrations_table, d1_migrations)."""


def _migration_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        fail("d1", f"No migrations present at {folder}.")
    return migration_files(folder)


def _applied(client: Client, found: Target) -> list[str]:
    query(client, found.ref, tracking_table_sql(found.migrations_table))
    rows = query(client, found.ref, f"SELECT * FROM {found.migrations_table} ORDER BY id")
    return [row["name"] for row in rows[0]["results"]]


@migrations.command("create")
@click.argument("database")
@click.argument("message")
@CONFIG_OPTION
def migrations_create(database: str, message: str, configs: tuple[Path, ...]) -> None:
    """Create the next numbered migration file (`NNNN_message.sql`)."""
    found = target(database, configs)
    found.migrations_dir.mkdir(parents=True, exist_ok=True)
    numbers = [
        int(n.split("_")[0])
        for n in _migration_files(found.migrations_dir)
        if n.split("_")[0].isdigit()
    ]
    number = f"{max([*numbers, 0]) + 1:04d}"
    name = f"{number}_{message.replace(' ', '_')}.sql"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    (found.migrations_dir / name).write_text(f"-- Migration number: {number} \t {now}\n")
    click.echo(f"Created migration {found.migrations_dir / name}")


@migrations.command("list")
@click.argument("database")
@CONFIG_OPTION
@DATA_DIR_OPTION
def migrations_list(database: str, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """The migrations not applied yet."""
    found = target(database, configs)
    files = _migration_files(found.migrations_dir)
    client = data_client(configs, data_dir)
    with client.session():
        applied = set(_applied(client, found))
    pending = [name for name in files if name not in applied]
    click.echo(table([{"name": n} for n in pending]) if pending else "No migrations to apply!")


@migrations.command("apply")
@click.argument("database")
@CONFIG_OPTION
@DATA_DIR_OPTION
def migrations_apply(database: str, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Apply the pending migrations in order, each with its tracking row in one transaction."""
    found = target(database, configs)
    files = _migration_files(found.migrations_dir)
    client = data_client(configs, data_dir)
    with client.session():
        applied = set(_applied(client, found))
        pending = [name for name in files if name not in applied]
        if not pending:
            click.echo("No migrations to apply!")
            return
        for name in pending:
            sql = applying_sql(found.migrations_dir, name, found.migrations_table)
            started = time.perf_counter()
            query(client, found.ref, sql)
            click.echo(f"{name} applied ({(time.perf_counter() - started) * 1000:.0f} ms)")
