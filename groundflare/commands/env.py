"""`groundflare env`: point wrangler, the SDKs and S3 tools at the running stack."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from groundflare.commands.api_client import credentials
from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.contracts.layout import DataDir


@click.command("env")
@click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="wrangler.toml or wrangler.jsonc: its account_id, if it has one, is the one printed.",
)
@DATA_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of shell lines.")
def env(configs: tuple[Path, ...], data_dir: Path | None, as_json: bool) -> None:
    """Print `export` lines (or --json) that point wrangler's --remote commands, the
    Cloudflare SDKs and S3 clients at the running stack: eval "$(groundflare env)"."""
    layout = DataDir(root=data_root(data_dir))
    found = credentials(layout, configs)
    if found is None:
        fail("env", f"nothing is running on {layout.root}: start it with `groundflare serve`")
    variables = found.env()
    if as_json:
        click.echo(json.dumps(variables, indent=2))
        return
    for name, value in variables.items():
        click.echo(f"export {name}={shlex.quote(value)}")
