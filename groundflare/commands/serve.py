"""`groundflare serve` and `groundflare dev`: run the stack."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from groundflare.build import BundleChoice, build
from groundflare.bundler import BundleError
from groundflare.commands.common import (
    CONFIGS_OPTION,
    DATA_DIR_OPTION,
    ENV_OPTION,
    data_root,
    fail,
)
from groundflare.dev import DevMode
from groundflare.lock import DataDirBusy, DataDirLock
from groundflare.native_tools import ToolNotFound, Workerd, find_workerd
from groundflare.paths import DataDir
from workerd_config.stack_loader import LoadedStack, load_stack
from workerd_config.wrangler import ConfigError

log = logging.getLogger("groundflare")
TEST_CLOCK_ENV = "GROUNDFLARE_TEST_CLOCK"


def load(
    configs: tuple[Path, ...],
    workerd: Workerd,
    port: int,
    env: str | None,
    data_dir: Path,
    choice: BundleChoice,
) -> LoadedStack:
    """Read the configs, then bundle; ConfigError or BundleError says what is wrong."""
    loaded = load_stack(configs, workerd.max_compat_date, datetime.now(UTC).date(), env, port)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    return build(loaded, data_dir, choice)


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
    ]
    for option in reversed(options):
        command = option(command)
    return command


def run(
    configs: tuple[Path, ...],
    data_dir: Path | None,
    port: int,
    env: str | None,
    choice: BundleChoice,
    sandbox_upstream: str | None,
    vm: bool | None,
    dev: bool,
) -> None:
    from groundflare.serve import Options, StartFailure
    from groundflare.serve import serve as run_serve

    try:
        workerd = find_workerd()
    except ToolNotFound as exc:
        fail("workerd", str(exc), event=True)
    root = data_root(data_dir)
    lock = own_data_dir(DataDir(root=root))
    reload = partial(load, configs, workerd, port, env, root, choice)
    try:
        loaded = reload()
    except ConfigError as exc:
        fail("config", str(exc), code=2, event=True)
    except BundleError as exc:
        fail("bundle", str(exc), code=2, event=True)
    options = Options(
        stack=loaded.stack,
        secrets=loaded.secrets,
        data_dir=DataDir(root=root),
        workerd=workerd,
        test_clock=os.environ.get(TEST_CLOCK_ENV) == "1",
        sandbox_upstream=sandbox_upstream,
        dev=DevMode(loaded.inputs, reload) if dev else None,
        vm=dev_vm_default() if dev and vm is None else vm,
    )
    try:
        sys.exit(run_serve(options, lock))
    except StartFailure as exc:
        fail(exc.component, exc.reason, event=True)
    except (OSError, ValueError) as exc:
        fail("data-dir", str(exc), event=True)


def own_data_dir(data_dir: DataDir) -> DataDirLock:
    """Lay out the data dir and lock it before anything is written there (bundles
    included): a second stack on the same folder must not touch the first one's files."""
    lock = DataDirLock(data_dir.run / "supervisor.lock")
    try:
        data_dir.prepare()
        lock.acquire()
    except (DataDirBusy, OSError, ValueError) as exc:
        fail("data-dir", str(exc), event=True)
    return lock


def dev_vm_default() -> bool:
    """`dev` boots the VM only where KVM makes it quick, and says so when it does not."""
    from groundflare.sandbox_vm import kvm_usable

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
        vm: bool | None,
        sandbox_upstream: str | None,
    ) -> None:
        choice = BundleChoice(disabled=no_bundle, prebuilt=prebuilt)
        run(configs, data_dir, port, env, choice, sandbox_upstream, vm, dev=dev)

    return command


serve = stack_command(
    "serve", False, "Start the stack; print one JSON ready line on stdout when every part is ready."
)
dev = stack_command(
    "dev", True, "serve, for people: coloured logs, a status table, and reloads on every change."
)
