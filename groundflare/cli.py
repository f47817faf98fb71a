"""The `groundflare` command line."""

from __future__ import annotations

import logging
import sys

import click

from groundflare.commands.bundle import bundle
from groundflare.commands.config import config
from groundflare.commands.d1 import d1
from groundflare.commands.emails import emails
from groundflare.commands.env import env
from groundflare.commands.events import events_schema_command
from groundflare.commands.explorer import explorer
from groundflare.commands.inspect import logs, status
from groundflare.commands.kv import kv
from groundflare.commands.profile import profile
from groundflare.commands.queues import queues
from groundflare.commands.r2 import r2
from groundflare.commands.secrets_store import secrets_store
from groundflare.commands.serve import dev, serve
from groundflare.commands.tools import tools
from groundflare.commands.trigger import trigger
from groundflare.commands.vm import vm


@click.group()
@click.version_option(package_name="groundflare")
def main() -> None:
    """Run Cloudflare Workers and their bindings locally, on the real workerd."""
    logging.basicConfig(
        level=logging.INFO, format="[groundflare] %(levelname)s %(message)s", stream=sys.stderr
    )


for command in (
    explorer,
    serve,
    dev,
    status,
    logs,
    config,
    profile,
    tools,
    vm,
    trigger,
    events_schema_command,
    env,
    d1,
    kv,
    r2,
    queues,
    emails,
    secrets_store,
    bundle,
):
    main.add_command(command)
