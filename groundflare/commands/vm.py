"""`groundflare vm ...`: the sandbox microVM's image and what this host can run."""

from __future__ import annotations

from pathlib import Path

import click

from groundflare.commands.common import DATA_DIR_OPTION, data_root, fail

CACHE_OPTION = click.option(
    "--cache",
    type=click.Path(path_type=Path, file_okay=False),
    help="Build cache (default: vm/ in the user cache dir).",
)


@click.group()
def vm() -> None:
    """The sandbox microVM: build its image, see how it would run here, open a shell in it."""


@vm.command("build")
@click.option(
    "--sandbox",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The sandbox binary to put in the image (default: the reference sandbox, a demo).",
)
@CACHE_OPTION
def vm_build(sandbox: Path | None, cache: Path | None) -> None:
    """Build (or reuse) the guest image; prints its folder. Progress goes to stderr."""
    from groundflare.vm import BuildError, build_image, default_cache
    from groundflare.vm.reference_sandbox import build_reference_sandbox

    cache = (cache or default_cache()).resolve()
    try:
        if sandbox is None:
            click.echo("[vm build] no --sandbox: using the reference sandbox (a demo)", err=True)
            sandbox = build_reference_sandbox(cache)
        image = build_image(sandbox.resolve(), cache)
    except BuildError as exc:
        fail("vm", str(exc))
    click.echo(str(image.dir))


@vm.command("accel")
def vm_accel() -> None:
    """Which accelerator QEMU would use on this host (KVM or TCG), and why."""
    from groundflare.vm.accel import detect

    found = detect()
    click.echo(f"{found.kind}: {found.reason}")


@vm.command("shell")
@DATA_DIR_OPTION
def vm_shell(data_dir: Path | None) -> None:
    """An interactive shell in the running stack's sandbox, through the sandbox's own shell
    endpoint with this run's token (never a host shell). Exits when the shell does."""
    import asyncio

    from groundflare.commands.vm_shell import ShellError, shell
    from groundflare.contracts.layout import DataDir
    from groundflare.contracts.sandbox import SandboxAddress

    layout = DataDir(root=data_root(data_dir))
    try:
        address = SandboxAddress.model_validate_json(layout.sandbox_json.read_bytes())
    except OSError:
        fail("vm", f"no running stack with a VM in {layout.root} (serve --vm, or vm.enabled)")
    try:
        raise SystemExit(asyncio.run(shell(address)))
    except ShellError as exc:
        fail("vm", str(exc))
