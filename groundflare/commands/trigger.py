"""`groundflare trigger scheduled`: run a Worker's scheduled() now, in a running stack."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import click

from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.contracts.layout import DataDir
from groundflare.runtime import Runtime
from groundflare.shim.door import Door, DoorError

WORKER_ENDPOINT = "worker:"


def first_worker(layout: DataDir) -> str:
    """The stack's first Worker, as the ready line's `url` names it."""
    runtime = Runtime.model_validate_json(layout.runtime_json.read_bytes())
    names = [
        name[len(WORKER_ENDPOINT) :]
        for name in runtime.endpoints
        if name.startswith(WORKER_ENDPOINT)
    ]
    return names[0]


@click.group()
def trigger() -> None:
    """Call into a running stack's Workers through its door."""


@trigger.command("scheduled")
@click.option("--worker", help="Which Worker (default: the stack's first).")
@click.option("--cron", default="", help="controller.cron, e.g. '*/5 * * * *' (default: empty).")
@click.option(
    "--time",
    "scheduled_time",
    type=int,
    help="controller.scheduledTime in milliseconds since the epoch (default: now).",
)
@DATA_DIR_OPTION
def scheduled(
    worker: str | None, cron: str, scheduled_time: int | None, data_dir: Path | None
) -> None:
    """Run scheduled() as a cron trigger would; prints its outcome, exits 1 unless ok."""
    layout = DataDir(root=data_root(data_dir))
    when = None if scheduled_time is None else datetime.fromtimestamp(scheduled_time / 1000, UTC)
    try:
        door = Door.of(layout)
        result = asyncio.run(door.scheduled(worker or first_worker(layout), cron, when))
    except (DoorError, OSError) as exc:
        fail("trigger", str(exc))
    click.echo(result.outcome)
    if result.outcome != "ok":
        raise SystemExit(1)
