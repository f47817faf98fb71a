"""The `groundflare` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from groundflare import workerd_binary
from groundflare.paths import DataDir, default_data_dir
from groundflare.profile import (
    SECRET_NAMES,
    Installation,
    ProfileError,
    SecretName,
    redacted,
    schema,
)
from groundflare.secret_store import SecretStoreError
from workerd_config.model import Stack
from workerd_config.wrangler import ConfigError, load_worker

log = logging.getLogger("groundflare")
TEST_CLOCK_ENV = "GROUNDFLARE_TEST_CLOCK"


def fail(component: str, reason: str, code: int = 1, event: bool = False) -> None:
    """One line naming the component and the cause, then exit non-zero.

    `event`: also report it on stdout as a JSON `fatal` event (the serve contract).
    """
    if event:
        from groundflare.events import emit

        emit({"event": "fatal", "component": component, "reason": reason})
    click.echo(f"groundflare: {component}: {reason}", err=True)
    sys.exit(code)


def load_stack(configs: tuple[Path, ...], workerd: workerd_binary.Workerd, port: int) -> Stack:
    today = datetime.now(UTC).date()
    workers = []
    for index, path in enumerate(configs):
        imported = load_worker(path, workerd.max_compat_date, today)
        for warning in imported.warnings:
            log.warning("%s", warning)
        worker = imported.worker
        workers.append(worker.model_copy(update={"port": port if index == 0 else 0}))
    return Stack(workers=workers)


@click.group()
@click.version_option(package_name="groundflare")
def main() -> None:
    """Run Cloudflare Workers with their D1 bindings locally, on the real workerd."""
    logging.basicConfig(
        level=logging.INFO, format="[groundflare] %(levelname)s %(message)s", stream=sys.stderr
    )


@main.command()
@click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="wrangler.toml or wrangler.jsonc of a Worker.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where databases, logs and run state live (default: the user data dir).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port of the first Worker on 127.0.0.1; 0 picks a free one.",
)
@click.option(
    "--sandbox-upstream",
    metavar="HOST:PORT",
    help="Where the sandbox proxy forwards (a sandbox outside the VM, e.g. in tests).",
)
def serve(
    configs: tuple[Path, ...], data_dir: Path | None, port: int, sandbox_upstream: str | None
) -> None:
    """Start the stack; print one JSON ready line on stdout when every part is ready."""
    from groundflare.serve import Options, StartFailure
    from groundflare.serve import serve as run_serve

    try:
        workerd = workerd_binary.find_workerd()
    except workerd_binary.WorkerdNotFound as exc:
        fail("workerd", str(exc), event=True)
    try:
        stack = load_stack(configs, workerd, port)
    except ConfigError as exc:
        fail("config", str(exc), code=2, event=True)
    root = (data_dir or default_data_dir()).resolve()
    try:
        options = Options(
            stack=stack,
            data_dir=DataDir(root=root),
            workerd=workerd,
            test_clock=os.environ.get(TEST_CLOCK_ENV) == "1",
            sandbox_upstream=sandbox_upstream,
        )
        sys.exit(run_serve(options))
    except StartFailure as exc:
        fail(exc.component, exc.reason, event=True)
    except (OSError, ValueError) as exc:
        fail("data-dir", str(exc), event=True)


@main.group()
def workerd() -> None:
    """The workerd binary groundflare runs."""


@workerd.command("install")
def workerd_install() -> None:
    """Install the pinned workerd from the npm registry into the repository's .workerd/."""
    try:
        path = workerd_binary.install()
    except (workerd_binary.WorkerdNotFound, OSError) as exc:
        fail("workerd", str(exc))
    click.echo(str(path))


@workerd.command("path")
def workerd_path() -> None:
    """Print the workerd binary that `serve` would use."""
    try:
        found = workerd_binary.find_workerd()
    except workerd_binary.WorkerdNotFound as exc:
        fail("workerd", str(exc))
    click.echo(f"{found.path} (compatibility dates up to {found.max_compat_date})")


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where databases, logs and run state live (default: the user data dir).",
)


def installation(data_dir: Path | None) -> Installation:
    return Installation((data_dir or default_data_dir()).resolve())


@main.group()
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
@DATA_DIR_OPTION
def profile_show(data_dir: Path | None) -> None:
    """Print the profile as JSON, secrets redacted."""
    install = installation(data_dir)
    try:
        loaded = install.load()
        store = install.store(loaded)
        shown = redacted(loaded, install.secrets(loaded), store.kind)
    except (ProfileError, SecretStoreError) as exc:
        fail("profile", str(exc))
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
