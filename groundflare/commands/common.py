"""What every command shares: failing with one clear line, the data-dir option."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from groundflare.paths import default_data_dir

CONFIGS_OPTION = click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="wrangler.toml or wrangler.jsonc of a Worker.",
)
ENV_OPTION = click.option(
    "-e",
    "--env",
    "env",
    metavar="NAME",
    help="Use the [env.NAME] section of each config, as wrangler --env does.",
)
DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where databases, logs and run state live (default: the user data dir).",
)


def data_root(data_dir: Path | None) -> Path:
    return (data_dir or default_data_dir()).resolve()


def fail(component: str, reason: str, code: int = 1) -> NoReturn:
    """One line naming the component and the cause, then exit non-zero."""
    click.echo(f"groundflare: {component}: {reason}", err=True)
    sys.exit(code)
