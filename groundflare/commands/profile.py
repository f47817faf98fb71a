"""`groundflare profile ...`: the install's profile and secrets."""

from __future__ import annotations

import json
from pathlib import Path

import click

from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.profile import (
    SECRET_NAMES,
    Installation,
    ProfileError,
    SecretName,
    redacted,
    schema,
)
from groundflare.secret_store import SecretStoreError


def installation(data_dir: Path | None) -> Installation:
    return Installation(data_root(data_dir))


@click.group()
def profile() -> None:
    """The install's profile (VM, mounts, ports) and its secrets."""


@profile.command("init")
@DATA_DIR_OPTION
def profile_init(data_dir: Path | None) -> None:
    """Create the profile and its secrets; an existing profile is kept as it is."""
    install = installation(data_dir)
    try:
        created = not install.exists()
        loaded = install.load_or_create()
    except (ProfileError, SecretStoreError) as exc:
        fail("profile", str(exc))
    verb = "created" if created else "already exists:"
    click.echo(f"profile {verb} {install.path} (install {loaded.install_id})")


@profile.command("show")
@click.option(
    "--secrets",
    "reveal",
    is_flag=True,
    help="Print the secrets' values too (the API token, the S3 secret access key, ...).",
)
@DATA_DIR_OPTION
def profile_show(reveal: bool, data_dir: Path | None) -> None:
    """Print the profile as JSON, secrets redacted unless --secrets; the S3 access key id
    (R2's S3 API on the REST listener) is shown either way."""
    install = installation(data_dir)
    try:
        loaded = install.load()
        store = install.store(loaded)
        values = install.secrets(loaded)
        shown = redacted(loaded, values, store.kind)
    except (ProfileError, SecretStoreError) as exc:
        fail("profile", str(exc))
    shown["s3"] = {"access_key_id": values["s3_access_key_id"]}
    if reveal:
        shown["secrets"] = values
    click.echo(json.dumps(shown, indent=2))


@profile.command("rotate")
@click.argument("name", type=click.Choice(SECRET_NAMES))
@DATA_DIR_OPTION
def profile_rotate(name: SecretName, data_dir: Path | None) -> None:
    """Replace one secret with a new random value (restart the stack to use it)."""
    install = installation(data_dir)
    try:
        install.rotate(install.load(), name)
    except (ProfileError, SecretStoreError) as exc:
        fail("profile", str(exc))
    click.echo(f"rotated {name}")


@profile.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@DATA_DIR_OPTION
def profile_reset(yes: bool, data_dir: Path | None) -> None:
    """Forget the profile and its secrets and create new ones."""
    install = installation(data_dir)
    if not yes:
        click.confirm(
            f"Reset {install.path}? Its secrets are lost and a new install id is made",
            abort=True,
        )
    fresh = install.reset()
    click.echo(f"profile reset: {install.path} (install {fresh.install_id})")


@profile.command("schema")
def profile_schema() -> None:
    """Print the profile's JSON schema (the source of profile/schema.json)."""
    click.echo(json.dumps(schema(), indent=2))
