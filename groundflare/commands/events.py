"""`groundflare events-schema`: the JSON schema of serve's stdout events, for hosts."""

from __future__ import annotations

import json

import click

from groundflare.contracts.events import events_schema


@click.command("events-schema")
def events_schema_command() -> None:
    """Print the JSON schema of serve's stdout events (the source of
    contracts/events.schema.json)."""
    click.echo(json.dumps(events_schema(), indent=2))
