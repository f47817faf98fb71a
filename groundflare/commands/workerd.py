"""`groundflare workerd ...`: the workerd binary."""

from __future__ import annotations

import click

from groundflare import workerd_binary
from groundflare.commands.common import fail


@click.group()
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
