"""The `groundflare` command line."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from groundflare import workerd_binary
from groundflare.paths import DataDir, default_data_dir
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
def serve(configs: tuple[Path, ...], data_dir: Path | None, port: int) -> None:
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
