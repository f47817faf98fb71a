"""`groundflare status` and `groundflare logs`: look at a running (or stopped) stack."""

from __future__ import annotations

import time
from pathlib import Path

import click
from pydantic import ValidationError

from groundflare.commands.api_client import secrets_of
from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail
from groundflare.contracts.layout import DataDir
from groundflare.dev import status_table
from groundflare.runtime import Runtime

FOLLOW_POLL_SECONDS = 0.25


@click.command()
@DATA_DIR_OPTION
def status(data_dir: Path | None) -> None:
    """Components, their states and pids, and the endpoints (from run/runtime.json)."""
    layout = DataDir(root=data_root(data_dir))
    try:
        runtime = Runtime.model_validate_json(layout.runtime_json.read_bytes())
    except FileNotFoundError:
        fail("status", f"nothing is running on {layout.root} (no run/runtime.json)")
    except ValidationError as exc:
        fail("status", f"{layout.runtime_json} is not valid: {exc.errors()[0]['msg']}")
    if not Path(f"/proc/{runtime.pid}").exists() and Path("/proc").is_dir():
        fail("status", f"supervisor pid {runtime.pid} is gone; the stack is not running")
    click.echo(f"supervisor pid {runtime.pid}, data dir {layout.root}\n")
    click.echo(status_table(runtime))
    api = runtime.endpoints.get("api")
    if api is not None:
        # Where tools reach the data (`groundflare env` prints it all, the secrets included).
        _, values = secrets_of(layout.root)
        click.echo(f"\nv4 API       {api}/client/v4")
        click.echo(f"S3 endpoint  {api} (access key id {values['s3_access_key_id']})")


@click.command()
@click.argument("component", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they arrive.")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines to show first.")
@DATA_DIR_OPTION
def logs(component: str | None, follow: bool, lines: int, data_dir: Path | None) -> None:
    """Show a component's log (all components when none is named)."""
    layout = DataDir(root=data_root(data_dir))
    files = (
        [layout.log_file(component)]
        if component
        else sorted(layout.logs.glob("*.log"))
        if layout.logs.exists()
        else []
    )
    missing = [f for f in files if not f.exists()]
    if not files or missing:
        known = ", ".join(p.stem for p in layout.logs.glob("*.log")) or "none yet"
        fail("logs", f"no log for {component or 'any component'} in {layout.logs} (have: {known})")
    handles = {}
    for path in files:
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        for line in tail:
            click.echo(f"{path.stem:>8} | {line}" if not component else line)
        handles[path] = path.open("r", encoding="utf-8", errors="replace")
        handles[path].seek(0, 2)
    while follow:
        for path, handle in handles.items():
            for line in handle.readlines():
                click.echo(f"{path.stem:>8} | {line.rstrip()}" if not component else line.rstrip())
        time.sleep(FOLLOW_POLL_SECONDS)
