"""`groundflare dev`: readable logs, a status table, and reloads on every source change."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from groundflare.children import ChildFailed
from groundflare.runtime import Runtime
from workerd_config.model import Stack
from workerd_config.wrangler import SIDECAR_NAME, ConfigError

log = logging.getLogger("groundflare")

POLL_SECONDS = 0.5
COLOURS = {"shim": "36", "workerd": "35", "proxy": "33", "vm": "34"}


@dataclass(frozen=True)
class DevMode:
    """What `dev` adds to serve: the config files to watch and how to read them again."""

    configs: tuple[Path, ...]
    load: Callable[[], Stack]


def colour_enabled() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or sys.stderr.isatty()


def coloured_echo(component: str, line: str) -> None:
    code = COLOURS.get(component, "32")
    prefix = f"\x1b[{code}m{component:>8} |\x1b[0m" if colour_enabled() else f"{component:>8} |"
    sys.stderr.write(f"{prefix} {line}\n")
    sys.stderr.flush()


def status_table(runtime: Runtime) -> str:
    rows = [("component", "state", "pid")]
    rows += [(name, c.state, str(c.pid or "-")) for name, c in runtime.components.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.append("")
    lines += [f"{name:<{widths[0]}}  {address}" for name, address in runtime.endpoints.items()]
    return "\n".join(lines)


def watched_files(stack: Stack, configs: tuple[Path, ...]) -> list[Path]:
    files = [path.resolve() for path in configs]
    files += [path.parent / SIDECAR_NAME for path in files]
    files += [module.path for worker in stack.workers for module in worker.modules]
    return files


def snapshot(files: list[Path]) -> dict[Path, float | None]:
    return {path: path.stat().st_mtime if path.exists() else None for path in files}


class Reloader:
    """Polls the Workers' sources and configs; on a change, reloads without losing state.

    workerd is replaced (the new one starts beside the old, sharing its sockets);
    the shim is replaced only when the set of databases, namespaces or buckets
    changed. Data lives in files, so neither loses any.
    """

    def __init__(
        self,
        configs: tuple[Path, ...],
        load: Callable[[], Stack],
        current: Callable[[], Stack],
        apply: Callable[[Stack], Awaitable[None]],
    ) -> None:
        self._configs = configs
        self._load = load
        self._current = current
        self._apply = apply
        # Taken now, before the ready line: an edit right after it is a change.
        self._seen = snapshot(watched_files(current(), configs))

    async def run(self) -> None:
        seen = self._seen
        while True:
            await asyncio.sleep(POLL_SECONDS)
            now = snapshot(watched_files(self._current(), self._configs))
            if now == seen:
                continue
            seen = now
            try:
                stack = self._load()
            except ConfigError as exc:
                log.error("not reloading: %s", exc)
                continue
            if [w.name for w in stack.workers] != [w.name for w in self._current().workers]:
                log.error("not reloading: Workers were added or removed; restart groundflare dev")
                continue
            try:
                await self._apply(stack)
            except ChildFailed as exc:
                log.error("reload failed, the previous version keeps running: %s", exc.reason)
            else:
                seen = snapshot(watched_files(self._current(), self._configs))
                log.info("reloaded")
