"""`groundflare tools ...`: the native binaries groundflare runs (workerd, esbuild)."""

from __future__ import annotations

import click

from groundflare.commands.common import fail
from groundflare.native_tools import TOOLS, ToolNotFound, find_workerd, install, tools_cache


@click.group()
def tools() -> None:
    """The native binaries groundflare runs: workerd and esbuild."""


@tools.command("install")
def tools_install() -> None:
    """Download the pinned workerd and esbuild from the npm registry into the user cache dir
    (checked against the registry's sha512); serve otherwise does it on first use."""
    try:
        paths = install()
    except (ToolNotFound, OSError) as exc:
        fail("tools", str(exc))
    for tool, path in zip(TOOLS, paths, strict=True):
        click.echo(f"{tool.name} {tool.version}: {path}")


@tools.command("path")
def tools_path() -> None:
    """Print the binaries serve would use (downloading none)."""
    try:
        workerd = find_workerd()
        click.echo(f"workerd: {workerd.path} (compatibility dates up to {workerd.max_compat_date})")
        click.echo(f"esbuild: {TOOLS[1].locate(fetch_missing=False)}")
    except ToolNotFound as exc:
        fail("tools", f"{exc} (cache: {tools_cache()})")
