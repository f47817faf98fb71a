"""The shim component: the storage service behind every D1, KV and R2 binding, and the
REST listener."""

from __future__ import annotations

import socket

from groundflare.contracts.d1_migrations import DEFAULT_DIR, DEFAULT_TABLE, MigrationsSource
from groundflare.contracts.layout import DataDir
from groundflare.contracts.secrets_pipe import SECRETS_FD_PLACEHOLDER
from groundflare.contracts.shim_config import CronTrigger, ShimConfig, ShimSecrets
from groundflare.contracts.traces import TraceRetention, TraceSettings
from groundflare.paths import write_private
from groundflare.shim.d1.kind import D1Binding
from groundflare.stack.processes import ChildSpecs, announced_listening, base_env, python_module
from groundflare.supervisor import ComponentSpec
from groundflare.workerd_config.model import Stack
from groundflare.workerd_config.traces import traced_workers


def shim_config(
    stack: Stack,
    data_dir: DataDir,
    plugins: list[str],
    test_clock: bool,
    traces: TraceRetention | None = None,
) -> ShimConfig:
    return ShimConfig(
        socket=data_dir.shim_socket,
        data_dir=data_dir.root,
        resources=stack.served_resources(),
        crons=[CronTrigger(worker=w.name, cron=cron) for w in stack.workers for cron in w.crons],
        queue_consumers=stack.queue_consumers(),
        door_socket=data_dir.door_socket,
        plugins=plugins,
        test_clock=test_clock,
        traces=None
        if traces is None
        else TraceSettings(retention=traces, workers=traced_workers(stack)),
        d1_migrations=d1_migrations(stack),
    )


def d1_migrations(stack: Stack) -> list[MigrationsSource]:
    """Each Worker's D1 migrations folder, as wrangler finds it: `migrations_dir` (default
    `migrations`) beside the Worker's config. A database two Workers bind may have two."""
    found: list[MigrationsSource] = []
    for worker in stack.workers:
        root = worker.bundling.project_root
        if root is None:
            continue
        for binding in worker.bindings:
            if not isinstance(binding, D1Binding):
                continue
            source = MigrationsSource(
                database_id=binding.resource.id,
                folder=(root / (binding.migrations_dir or DEFAULT_DIR)).resolve(),
                table=binding.migrations_table or DEFAULT_TABLE,
            )
            if source not in found:
                found.append(source)
    return found


def write_shim_config(config: ShimConfig, data_dir: DataDir) -> None:
    write_private(data_dir.shim_config, config.model_dump_json().encode("utf-8"))


def shim_component(
    data_dir: DataDir, specs: ChildSpecs, api: socket.socket, secrets: ShimSecrets
) -> ComponentSpec:
    api_fd = api.fileno()
    argv = [
        *python_module("groundflare.shim"),
        "--config",
        str(data_dir.shim_config),
        "--control-fd",
        "{control_fd}",
        "--api-fd",
        str(api_fd),
        "--secrets-fd",
        SECRETS_FD_PLACEHOLDER,
    ]
    # pydantic would scan every installed distribution's entry points for plugins at the
    # shim's first model (a few ms of its start); the shim uses none.
    env = {**base_env(), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    return ComponentSpec(
        "shim",
        lambda: specs("shim", argv, env, (api_fd,), secrets=secrets.model_dump()),
        announced_listening,
    )
