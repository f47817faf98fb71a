"""`groundflare dev`: readable logs, a status table, and reloads on every source change."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from groundflare.contracts.failures import StartFailure
from groundflare.runtime import Runtime
from groundflare.stack.boot import Addon, Boot
from groundflare.workerd_config.model import Stack
from groundflare.workerd_config.stack_loader import LoadedStack

log = logging.getLogger("groundflare")

POLL_SECONDS = 0.5
COLOURS = {"shim": "36", "workerd": "35", "proxy": "33", "vm": "34"}


def dev_addon(inputs: list[Path], load: Callable[[], LoadedStack]) -> Addon:
    """What `dev` adds to serve, once ready: the status table, then reloads on changes to
    `inputs` (read again with `load`)."""

    def start(boot: Boot) -> Awaitable[None]:
        runtime = Runtime.model_validate_json(boot.data_dir.runtime_json.read_bytes())
        sys.stderr.write("\n" + status_table(runtime) + "\n\n")
        reloader = Reloader(inputs, load, lambda: boot.options.stack, boot.reload)
        return reloader.run()

    return start


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
        inputs: list[Path],
        load: Callable[[], LoadedStack],
        current: Callable[[], Stack],
        apply: Callable[[LoadedStack], Awaitable[None]],
    ) -> None:
        self._inputs = inputs
        self._load = load
        self._current = current
        self._apply = apply
        # Taken now, before the ready line: an edit right after it is a change.
        self._seen = snapshot(inputs)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            now = snapshot(self._inputs)
            if now == self._seen:
                continue
            self._seen = now
            try:
                # Off the event loop: a `[build] command` may take a while.
                loaded = await asyncio.to_thread(self._load)
            except StartFailure as exc:
                log.error("not reloading: %s", exc.reason)
                continue
            old = [w.name for w in self._current().workers]
            if [w.name for w in loaded.stack.workers] != old:
                log.error("not reloading: Workers were added or removed; restart groundflare dev")
                continue
            self._inputs = loaded.inputs
            try:
                await self._apply(loaded)
            except StartFailure as exc:
                log.error("reload failed, the previous version keeps running: %s", exc.reason)
            else:
                self._seen = snapshot(self._inputs)
                log.info("reloaded")
