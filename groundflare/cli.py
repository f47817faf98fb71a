"""The `groundflare` command line.

Each command's module is imported only when that command runs (or `--help` lists them):
`groundflare serve` is on the cold-start path, and importing every command's dependencies
there would cost a third of its start (docs/performance.md)."""

from __future__ import annotations

import importlib
import logging
import sys

import click

# Command name -> "module:attribute", in the order `--help` lists them.
COMMANDS = {
    "explorer": "groundflare.commands.explorer:explorer",
    "serve": "groundflare.commands.serve:serve",
    "dev": "groundflare.commands.serve:dev",
    "status": "groundflare.commands.inspect:status",
    "logs": "groundflare.commands.inspect:logs",
    "config": "groundflare.commands.config:config",
    "profile": "groundflare.commands.profile:profile",
    "tools": "groundflare.commands.tools:tools",
    "vm": "groundflare.commands.vm:vm",
    "trigger": "groundflare.commands.trigger:trigger",
    "events-schema": "groundflare.commands.events:events_schema_command",
    "env": "groundflare.commands.env:env",
    "d1": "groundflare.commands.d1:d1",
    "kv": "groundflare.commands.kv:kv",
    "r2": "groundflare.commands.r2:r2",
    "queues": "groundflare.commands.queues:queues",
    "emails": "groundflare.commands.emails:emails",
    "secrets-store": "groundflare.commands.secrets_store:secrets_store",
    "bundle": "groundflare.commands.bundle:bundle",
}


class LazyGroup(click.Group):
    """A group whose commands are `COMMANDS`, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, target
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="groundflare")
def main() -> None:
    """Run Cloudflare Workers and their bindings locally, on the real workerd."""
    logging.basicConfig(
        level=logging.INFO, format="[groundflare] %(levelname)s %(message)s", stream=sys.stderr
    )
