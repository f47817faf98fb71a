"""`groundflare secrets-store put | list | delete`: the local Secrets Store behind
`[[secrets_store_secrets]]` bindings, as `wrangler secrets-store secret` manages production's.
Values are encrypted with the install's key (shim/secrets_store/vault.py); a running Worker's
next `get()` sees a change (docs/bindings.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import apsw
import click

from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.contracts.names import file_part
from groundflare.profile import Installation, ProfileError
from groundflare.secret_store import SecretStoreError
from groundflare.shim.secrets_store import vault

FOLDER = "secrets-store"


def _store(data_dir: Path | None, store_id: str) -> apsw.Connection:
    path = data_root(data_dir) / FOLDER / f"{file_part(store_id)}.sqlite"
    return vault.open_store(path)


def _key(data_dir: Path | None) -> bytes:
    install = Installation(data_root(data_dir))
    try:
        secrets = install.secrets(install.load_or_create())
    except (ProfileError, SecretStoreError) as exc:
        fail("secrets-store", str(exc))
    return vault.derive_key(secrets["secrets_key"])


@click.group("secrets-store")
def secrets_store() -> None:
    """The local Secrets Store of `[[secrets_store_secrets]]` bindings."""


@secrets_store.command("put")
@click.argument("store_id")
@click.argument("name")
@click.option("--value", help="The value (default: read from stdin, so it stays out of argv).")
@DATA_DIR_OPTION
def put(store_id: str, name: str, value: str | None, data_dir: Path | None) -> None:
    """Create or replace the secret NAME of the store STORE_ID."""
    if value is None:
        value = sys.stdin.read().rstrip("\n")
    conn = _store(data_dir, store_id)
    try:
        vault.put(conn, _key(data_dir), store_id, name, value)
    finally:
        conn.close()
    click.echo(f"Stored secret {name} in {store_id}")


@secrets_store.command("list")
@click.argument("store_id")
@DATA_DIR_OPTION
def list_secrets(store_id: str, data_dir: Path | None) -> None:
    """The store's secrets by name (never their values)."""
    conn = _store(data_dir, store_id)
    try:
        for name, created, modified in vault.listing(conn):
            click.echo(f"{name}  created {created}  modified {modified}")
    finally:
        conn.close()


@secrets_store.command("delete")
@click.argument("store_id")
@click.argument("name")
@DATA_DIR_OPTION
def delete(store_id: str, name: str, data_dir: Path | None) -> None:
    """Delete the secret NAME of the store STORE_ID."""
    conn = _store(data_dir, store_id)
    try:
        if not vault.delete(conn, name):
            fail("secrets-store", f"no secret {name} in {store_id}")
    finally:
        conn.close()
    click.echo(f"Deleted secret {name} from {store_id}")
