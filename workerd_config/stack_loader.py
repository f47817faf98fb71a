"""Several wrangler configs -> one stack, with what running it needs besides the model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from groundflare.workerd_config import drift
from groundflare.workerd_config.kinds import ConfigKind
from groundflare.workerd_config.model import ServiceBinding, Stack, Worker
from groundflare.workerd_config.references import missing_references
from groundflare.workerd_config.wrangler import BuildRunner, ConfigError, load_worker
from groundflare.workerd_config.wrangler_kinds import one_consumer_per_queue


@dataclass
class LoadedStack:
    stack: Stack
    # Secret values by environment variable, for workerd's environment only.
    secrets: dict[str, str] = field(default_factory=dict)
    # Config files, .dev.vars and sources: what a reload watches.
    inputs: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Each Worker's own source files (what the drift check reads), by Worker name.
    sources: dict[str, list[Path]] = field(default_factory=dict)
    # Bindings each Worker's config declares that groundflare cannot provide: name -> what.
    unsupported: dict[str, dict[str, str]] = field(default_factory=dict)


def through_assets(workers: list[Worker]) -> list[Worker]:
    """Service bindings to a Worker with [assets] go through its assets router, as in
    production (a named entrypoint still goes straight to the Worker)."""
    routers = {w.name: w.entry_service for w in workers if w.assets is not None}
    updated = []
    for worker in workers:
        bindings = [
            b.model_copy(update={"router": routers[b.service]})
            if isinstance(b, ServiceBinding) and b.service in routers
            else b
            for b in worker.bindings
        ]
        updated.append(worker.model_copy(update={"bindings": bindings}))
    return updated


def load_stack(
    configs: tuple[Path, ...] | list[Path],
    newest_compat_date: date,
    today: date,
    kinds: Sequence[ConfigKind],
    env: str | None = None,
    first_port: int = 0,
    require_references: bool = True,
    run_build: BuildRunner | None = None,
) -> LoadedStack:
    """The first Worker listens on `first_port`, the others on ports picked at start;
    `kinds` are the shim-served binding kinds (shim/registry.py); `run_build` runs each
    `[build] command` (groundflare/build.py)."""
    loaded = LoadedStack(stack=Stack.model_construct(workers=[]))
    workers = []
    for index, path in enumerate(configs):
        imported = load_worker(path, newest_compat_date, today, kinds, env, run_build)
        port = first_port if index == 0 else 0
        workers.append(imported.worker.model_copy(update={"port": port}))
        loaded.secrets.update(imported.secrets)
        loaded.inputs += imported.inputs
        loaded.warnings += imported.warnings
        loaded.unsupported[imported.worker.name] = imported.unsupported
    names = [worker.name for worker in workers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"two configs name the same Worker: {', '.join(duplicates)}")
    loaded.stack = Stack(workers=through_assets(workers))
    try:
        one_consumer_per_queue(loaded.stack)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    problems = missing_references(loaded.stack)
    if problems and require_references:
        raise ConfigError("; ".join(problems))
    loaded.warnings += problems
    loaded.inputs += [m.path for w in workers for m in w.modules]
    loaded.sources = {w.name: drift.source_files(w) for w in workers}
    return loaded
