"""`groundflare serve` and `groundflare dev`: run the stack."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import click

from groundflare.build import BuildFailed, BundleChoice, build, parse_defines, run_custom_build
from groundflare.bundle.layout import installed
from groundflare.bundler import BundleError
from groundflare.commands.common import (
    DATA_DIR_OPTION,
    ENV_OPTION,
    data_root,
)
from groundflare.contracts.events import FatalEvent
from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.contracts.layout import DataDir
from groundflare.contracts.proxy import parse_host_port
from groundflare.events import emit
from groundflare.lock import DataDirBusy, DataDirLock
from groundflare.logs import RotatingLog
from groundflare.native_tools import ToolNotFound, Workerd, find_workerd
from groundflare.shim import registry
from groundflare.workerd_config.model import OutboundPolicy
from groundflare.workerd_config.outbound import OUTBOUND_POLICIES
from groundflare.workerd_config.stack_loader import LoadedStack, load_stack
from groundflare.workerd_config.wrangler import ConfigError

log = logging.getLogger("groundflare")
TEST_CLOCK_ENV = "GROUNDFLARE_TEST_CLOCK"
# Tests only: children without PR_SET_PDEATHSIG, to show that stdin's EOF alone ends a stack.
TEST_NO_PDEATHSIG_ENV = "GROUNDFLARE_TEST_NO_PDEATHSIG"
CONFIGS_OPTION = click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="wrangler.toml or wrangler.jsonc of a Worker (in a sidecar bundle that embeds an "
    "app, default: that app's).",
)


def load(
    configs: tuple[Path, ...],
    workerd: Workerd,
    port: int,
    env: str | None,
    data_dir: Path,
    choice: BundleChoice,
    plugins: list[str],
) -> LoadedStack:
    """Read the configs (running their `[build] command`s), then bundle; StartFailure
    (config) says what is wrong."""
    try:
        kinds = registry.kinds(plugins).values()
        today = datetime.now(UTC).date()
        loaded = load_stack(
            configs,
            workerd.max_compat_date,
            today,
            list(kinds),
            env,
            port,
            run_build=run_custom_build,
        )
    except (ConfigError, registry.KindError) as exc:
        raise StartFailure("config", str(exc), FailureClass.CONFIG) from exc
    except BuildFailed as exc:
        raise StartFailure("build", str(exc), FailureClass.CONFIG) from exc
    for warning in loaded.warnings:
        log.warning("%s", warning)
    try:
        return build(loaded, data_dir, choice)
    except BundleError as exc:
        raise StartFailure("bundle", str(exc), FailureClass.CONFIG) from exc


def define_option(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> Any:
    try:
        return parse_defines(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options serve and dev share."""
    options = [
        CONFIGS_OPTION,
        DATA_DIR_OPTION,
        click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=8787,
            show_default=True,
            help="Port of the first Worker on 127.0.0.1; 0 picks a free one.",
        ),
        ENV_OPTION,
        click.option(
            "--bundle",
            "prebuilt",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Run this prebuilt bundle (e.g. a production build's output) instead of bundling.",
        ),
        click.option(
            "--no-bundle", is_flag=True, help="Run main and its modules as they are, unbundled."
        ),
        click.option(
            "--define",
            "defines",
            multiple=True,
            metavar="KEY:VALUE",
            callback=define_option,
            help="Replace KEY with the expression VALUE while bundling, as wrangler's --define "
            "(over the config's define). Repeatable.",
        ),
        click.option(
            "--vm/--no-vm",
            "vm",
            default=None,
            help="Boot the sandbox microVM, or not (default: serve follows the profile; dev "
            "boots it where KVM is usable).",
        ),
        click.option(
            "--sandbox-upstream",
            metavar="HOST:PORT",
            help="Where the sandbox proxy forwards (a sandbox outside the VM, e.g. in tests).",
        ),
        click.option(
            "--exit-on-stdin-eof/--no-exit-on-stdin-eof",
            default=None,
            help="Stop when stdin reaches its end, as it does when a sidecar's host dies "
            "(default: on in a sidecar bundle, off otherwise).",
        ),
        click.option(
            "--outbound",
            type=click.Choice(OUTBOUND_POLICIES),
            help="Where Workers' own fetch() and connect() may go: all (public, private and "
            "loopback addresses; the default), private (not loopback) or public (as production). "
            "Default: the profile's outbound.",
        ),
        click.option(
            "--cache/--no-cache",
            default=None,
            help="Keep what the Workers' Cache API puts (caches.default, caches.open), or make "
            "every match() miss (default: the profile's cache, on unless changed).",
        ),
        click.option(
            "--traces/--no-traces",
            default=None,
            help="Record every Worker invocation for the explorer's request log, or not "
            "(default: the profile's traces.enabled, on unless changed).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class StackRequest:
    """What `serve` or `dev` was asked to run."""

    configs: tuple[Path, ...]
    port: int
    env: str | None
    choice: BundleChoice
    sandbox_upstream: str | None
    vm: bool | None
    dev: bool
    outbound: OutboundPolicy | None = None
    exit_on_stdin_eof: bool | None = None
    traces: bool | None = None
    cache: bool | None = None


def run(request: StackRequest, data_dir: Path | None) -> NoReturn:
    """The failure boundary of the sidecar contract: every way a start can fail ends here
    as one `fatal` event on stdout, one line on stderr and its class's exit code."""
    root = data_root(data_dir)
    try:
        code = start(request, root)
    except StartFailure as failure:
        report(failure)
    except Exception as exc:
        log_internal_error(root)
        report(StartFailure("groundflare", f"{type(exc).__name__}: {exc}", FailureClass.INTERNAL))
    sys.exit(code)


def start(request: StackRequest, root: Path) -> int:
    from groundflare.stack.boot import Options
    from groundflare.stack.lifecycle import serve

    if request.sandbox_upstream is not None:
        check_upstream(request.sandbox_upstream)
    try:
        workerd = find_workerd()
    except ToolNotFound as exc:
        raise StartFailure("workerd", str(exc), FailureClass.MISSING) from exc
    lock = own_data_dir(DataDir(root=root))
    try:
        plugins = registry.plugins_from_env()
        reload = partial(
            load, request.configs, workerd, request.port, request.env, root, request.choice, plugins
        )
        loaded = reload()
        options = Options(
            stack=loaded.stack,
            secrets=loaded.secrets,
            data_dir=DataDir(root=root),
            workerd=workerd,
            plugins=plugins,
            test_clock=os.environ.get(TEST_CLOCK_ENV) == "1",
            sandbox_upstream=request.sandbox_upstream,
            vm=dev_vm_default() if request.dev and request.vm is None else request.vm,
            outbound=request.outbound,
            traces=request.traces,
            cache=request.cache,
            exit_on_stdin_eof=(
                installed() is not None
                if request.exit_on_stdin_eof is None
                else request.exit_on_stdin_eof
            ),
            die_with_parent=os.environ.get(TEST_NO_PDEATHSIG_ENV) != "1",
        )
        if request.dev:
            from groundflare.dev import coloured_echo, dev_addon

            options.echo = coloured_echo
            options.addon = dev_addon(loaded.inputs, reload)
    except BaseException:
        lock.release()
        raise
    return serve(options, lock)


def check_upstream(value: str) -> None:
    try:
        parse_host_port(value)
    except ValueError as exc:
        raise StartFailure("config", f"--sandbox-upstream: {exc}", FailureClass.CONFIG) from exc


def report(failure: StartFailure) -> NoReturn:
    emit(
        FatalEvent.model_validate(
            {
                "component": failure.component,
                "class": failure.failure,
                "reason": failure.reason,
                "advice": failure.advice,
            }
        )
    )
    click.echo(f"groundflare: {failure.line()}", err=True)
    sys.exit(failure.failure.exit_code)


def log_internal_error(root: Path) -> None:
    """The traceback of a bug goes to logs/groundflare.log, never to the host's stderr."""
    with contextlib.suppress(OSError):
        RotatingLog(DataDir(root=root).log_file("groundflare")).write_line(
            traceback.format_exc().rstrip("\n")
        )


def own_data_dir(data_dir: DataDir) -> DataDirLock:
    """Lay out the data dir and lock it before anything is written there (bundles
    included): a second stack on the same folder must not touch the first one's files."""
    lock = DataDirLock(data_dir.run / "supervisor.lock")
    try:
        data_dir.prepare()
        lock.acquire()
    except (DataDirBusy, OSError, ValueError) as exc:
        raise StartFailure("data-dir", str(exc), FailureClass.DATA_DIR) from exc
    return lock


def dev_vm_default() -> bool:
    """`dev` boots the VM only where KVM makes it quick, and says so when it does not."""
    from groundflare.stack.vm import kvm_usable

    usable, reason = kvm_usable()
    if not usable:
        log.warning(
            "not booting the sandbox VM: KVM is not usable here (%s); under software emulation "
            "a boot takes seconds. `groundflare dev --vm` boots it anyway",
            reason,
        )
        return False
    if shutil.which("qemu-system-x86_64") is None:
        log.warning("not booting the sandbox VM: QEMU is not installed (run `make vm-host`)")
        return False
    return True


def stack_command(name: str, dev: bool, summary: str) -> click.Command:
    """serve and dev: the same options and the same run, dev adding the developer aids."""

    @click.command(name=name, help=summary)
    @stack_options
    def command(
        configs: tuple[Path, ...],
        data_dir: Path | None,
        port: int,
        env: str | None,
        prebuilt: Path | None,
        no_bundle: bool,
        defines: dict[str, str],
        vm: bool | None,
        sandbox_upstream: str | None,
        outbound: OutboundPolicy | None,
        exit_on_stdin_eof: bool | None,
        cache: bool | None,
        traces: bool | None,
    ) -> None:
        configs, prebuilt = embedded_app(configs, prebuilt)
        choice = BundleChoice(disabled=no_bundle, prebuilt=prebuilt, define=defines)
        request = StackRequest(
            configs,
            port,
            env,
            choice,
            sandbox_upstream,
            vm,
            dev,
            outbound,
            exit_on_stdin_eof,
            traces,
            cache,
        )
        run(request, data_dir)

    return command


def embedded_app(
    configs: tuple[Path, ...], prebuilt: Path | None
) -> tuple[tuple[Path, ...], Path | None]:
    """No -c: the app a sidecar bundle embeds (`groundflare bundle --worker-bundle`)."""
    if configs:
        return configs, prebuilt
    bundle = installed()
    app = bundle.app() if bundle is not None else None
    if app is None:
        raise click.UsageError("Missing option '-c' / '--config'.")
    config, worker_bundle = app
    return (config,), prebuilt or worker_bundle


serve = stack_command(
    "serve", False, "Start the stack; print one JSON ready line on stdout when every part is ready."
)
dev = stack_command(
    "dev", True, "serve, for people: coloured logs, a status table, and reloads on every change."
)
