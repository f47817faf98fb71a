"""`groundflare queues ...`: list queues and send messages through production's HTTP push
API, on a running stack or a stopped data dir (groundflare/commands/api_client.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from groundflare.commands.api_client import CONFIG_OPTION, data_client, table, v4_result
from groundflare.commands.common import DATA_DIR_OPTION, fail


@click.group()
def queues() -> None:
    """Queues: list them, send messages onto them."""


@queues.command("list")
@CONFIG_OPTION
@DATA_DIR_OPTION
def queues_list(configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Every queue of the data dir."""
    client = data_client(configs, data_dir)
    with client.session():
        found = v4_result(client.request("GET", client.account_path("/queues")), "queues")
    click.echo(
        table([{"queue_name": q["queue_name"], "created_on": q["created_on"]} for q in found])
    )


@queues.command("send")
@click.argument("queue")
@click.argument("message")
@click.option(
    "--content-type",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="json: MESSAGE is JSON text, delivered parsed; text: delivered as the string.",
)
@click.option("--delay-seconds", type=int, default=0, help="Deliver it this much later.")
@CONFIG_OPTION
@DATA_DIR_OPTION
def queues_send(
    queue: str,
    message: str,
    content_type: str,
    delay_seconds: int,
    configs: tuple[Path, ...],
    data_dir: Path | None,
) -> None:
    """Send one message, as a producer binding's send() would."""
    body: Any = message
    if content_type == "json":
        try:
            body = json.loads(message)
        except ValueError as exc:
            fail("queues", f"MESSAGE is not JSON ({exc}); use --content-type text", 2)
    payload = {"body": body, "content_type": content_type, "delay_seconds": delay_seconds}
    client = data_client(configs, data_dir)
    with client.session():
        answer = client.request(
            "POST",
            client.account_path(f"/queues/{queue}/messages"),
            json.dumps(payload).encode(),
            {"Content-Type": "application/json"},
        )
        v4_result(answer, "queues")
    click.echo(f"Sent one message to {queue}")
