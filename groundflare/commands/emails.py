"""`groundflare emails list | show`: what the Workers' send_email bindings sent, from the data
dir's outbox (`email/sent/`), whether or not the stack is running (docs/bindings.md)."""

from __future__ import annotations

from pathlib import Path

import click

from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.shim.email.outbox import SENT, sent_messages

OUTBOX = "email"


@click.group()
def emails() -> None:
    """The messages the Workers' send_email bindings sent (kept as .eml files)."""


@emails.command("list")
@DATA_DIR_OPTION
def emails_list(data_dir: Path | None) -> None:
    """One line per message, oldest first: id, time, sender, recipients, subject."""
    for message in sent_messages(data_root(data_dir) / OUTBOX):
        recipients = ", ".join(message["to"])
        click.echo(
            f"{message['id']}  {message['at']}  {message['from']} -> {recipients}  "
            f"{message['subject']}"
        )


@emails.command("show")
@click.argument("message_id")
@DATA_DIR_OPTION
def emails_show(message_id: str, data_dir: Path | None) -> None:
    """Print one message as it was sent (its .eml file)."""
    path = data_root(data_dir) / OUTBOX / SENT / f"{Path(message_id).name}.eml"
    if not path.is_file():
        fail("emails", f"no message {message_id} (see `groundflare emails list`)")
    click.echo(path.read_bytes(), nl=False)
