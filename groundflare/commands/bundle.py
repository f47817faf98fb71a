"""`groundflare bundle`: the sidecar bundle a desktop app's installer ships (docs/desktop.md)."""

from __future__ import annotations

from pathlib import Path

import click

from groundflare.commands.common import fail


@click.command("bundle")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The folder to build the bundle in (absent or empty).",
)
@click.option("--with-vm", is_flag=True, help="Ship the sandbox VM's kernel and image too.")
@click.option(
    "-c",
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The app's wrangler config, embedded with --worker-bundle.",
)
@click.option(
    "--worker-bundle",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The app's built Worker bundle (as production deploys it), embedded: the bundle's "
    "`serve` then runs it without -c.",
)
def bundle(out: Path, with_vm: bool, config: Path | None, worker_bundle: Path | None) -> None:
    """Build a relocatable sidecar bundle for this OS and architecture: a frozen groundflare,
    the pinned workerd, licences and a manifest. Progress goes to stderr."""
    from groundflare.bundle.build import App, BundleBuildError, build_bundle

    if (config is None) != (worker_bundle is None):
        fail("bundle", "--worker-bundle and -c go together: the app's bundle and its config", 2)
    app = App(config, worker_bundle) if config and worker_bundle else None
    try:
        manifest = build_bundle(out.resolve(), with_vm, app)
    except (BundleBuildError, OSError) as exc:
        fail("bundle", str(exc))
    click.echo(f"{out.resolve()} ({manifest.platform}, {manifest.target_triple})")
