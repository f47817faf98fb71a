"""`groundflare config render | check`: what would run, and what the code expects."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from groundflare.build import BuildFailed, BundleChoice, build, run_custom_build
from groundflare.bundler import BundleError
from groundflare.commands.common import (
    CONFIGS_OPTION,
    DATA_DIR_OPTION,
    ENV_OPTION,
    data_root,
    fail,
)
from groundflare.contracts.layout import DataDir
from groundflare.native_tools import ToolNotFound, find_workerd
from groundflare.profile import Installation, ProfileError
from groundflare.shim import registry
from groundflare.workerd_config import drift
from groundflare.workerd_config.model import RenderContext, ShimAddress
from groundflare.workerd_config.outbound import DEFAULT_OUTBOUND
from groundflare.workerd_config.render import render_config
from groundflare.workerd_config.stack_loader import LoadedStack, load_stack
from groundflare.workerd_config.wrangler import ConfigError


def _load(configs: tuple[Path, ...], env: str | None, data_dir: Path | None) -> LoadedStack:
    try:
        newest = find_workerd().max_compat_date
    except ToolNotFound as exc:
        fail("workerd", str(exc))
    try:
        kinds = list(registry.kinds(registry.plugins_from_env()).values())
        today = datetime.now(UTC).date()
        loaded = load_stack(
            configs, newest, today, kinds, env, require_references=False, run_build=run_custom_build
        )
        return build(loaded, data_root(data_dir), BundleChoice())
    except (ConfigError, registry.KindError) as exc:
        fail("config", str(exc), code=2)
    except BuildFailed as exc:
        fail("build", str(exc), code=2)
    except BundleError as exc:
        fail("bundle", str(exc), code=2)


@click.group()
def config() -> None:
    """Inspect the workerd config a wrangler config turns into."""


@config.command("render")
@CONFIGS_OPTION
@ENV_OPTION
@DATA_DIR_OPTION
def render(configs: tuple[Path, ...], env: str | None, data_dir: Path | None) -> None:
    """Print the capnp workerd would run; secrets appear only as environment variable names
    (the outbound rule is the data dir's profile's, if it has one)."""
    loaded = _load(configs, env, data_dir)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    layout = DataDir(root=data_root(data_dir))
    install = Installation(layout.root)
    try:
        profile = install.load() if install.exists() else None
        outbound = profile.outbound if profile is not None else DEFAULT_OUTBOUND
        cache = profile.cache if profile is not None else True
    except ProfileError as exc:
        fail("profile", str(exc), code=2)
    ctx = RenderContext(
        shim=ShimAddress(socket=layout.shim_socket),
        config_dir=layout.run,
        do_dir=layout.root / "do",
    )
    stack = loaded.stack.model_copy(update={"outbound": outbound, "cache": cache})
    click.echo(render_config(stack, ctx), nl=False)


@config.command("check")
@CONFIGS_OPTION
@ENV_OPTION
@DATA_DIR_OPTION
def check(configs: tuple[Path, ...], env: str | None, data_dir: Path | None) -> None:
    """List env.X names the code reads but the config does not bind, or binds to something
    groundflare cannot provide (exit 1), and bindings the code never reads."""
    loaded = _load(configs, env, data_dir)
    failed = False
    for worker in loaded.stack.workers:
        result = drift.check(worker, loaded.sources[worker.name])
        missing = loaded.unsupported.get(worker.name, {})
        for ref in result.unbound:
            failed = True
            where = f"{worker.name}: env.{ref.name} is used at {ref.path}:{ref.line}"
            if ref.name in missing:
                click.echo(f"{where} but {missing[ref.name]} cannot be provided locally")
            else:
                click.echo(f"{where} but not bound")
        for name in result.unused:
            click.echo(f"{worker.name}: {name} is bound but the code never reads it")
        if not result.unbound and not result.unused:
            click.echo(f"{worker.name}: every binding is used and every env name is bound")
    sys.exit(1 if failed else 0)
