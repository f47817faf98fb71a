"""`groundflare dev`: readable logs, a status table, and reloads on every source change."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from pathlib import Path

from groundflare.contracts.failures import StartFailure
from groundflare.contracts.layout import DataDir
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
        return _together(reloader.run(), hotkeys(boot.data_dir))

    return start


async def _together(*work: Awaitable[None]) -> None:
    await asyncio.gather(*work)


def hotkeys(layout: DataDir) -> Awaitable[None]:
    """`e` on the terminal opens the explorer (a fresh one-time login link) in a browser."""
    if not sys.stdin.isatty():
        return asyncio.sleep(0)
    # POSIX terminals only; imported here so the module imports on Windows.
    import termios
    import tty

    from groundflare.commands.explorer import login_url, running_api

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()
    keys: asyncio.Queue[bytes] = asyncio.Queue()

    def read() -> None:
        keys.put_nowait(os.read(fd, 32))

    async def run() -> None:
        tty.setcbreak(fd, termios.TCSANOW)  # keep an `e` typed while the stack started
        loop.add_reader(fd, read)
        try:
            while data := await keys.get():
                api = running_api(layout)
                if b"e" not in data.lower() or api is None:
                    continue
                try:
                    link = await asyncio.to_thread(login_url, layout, api)
                except (OSError, KeyError, ValueError) as exc:
                    log.error("cannot open the explorer: %s", exc)
                    continue
                sys.stderr.write(f"explorer: {link}\n")
                await asyncio.to_thread(webbrowser.open, link)
        finally:
            loop.remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return run()


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
    if "api" in runtime.endpoints:
        explorer = f"{runtime.endpoints['api']}/explorer/"
        lines.append(
            f"{'explorer':<{widths[0]}}  {explorer}  (press e, or run `groundflare explorer`)"
        )
    return "\n".join(lines)


def snapshot(files: list[Path]) -> dict[Path, float | None]:
    return {path: path.stat().st_mtime if path.exists() else None for path in files}


class Reloader:
    """Polls the Workers' sources and configs; on a change, reloads without losing state.

    workerd is replaced (the new one starts beside the old, on the same ports and door:
    groundflare/handover.py); the shim is replaced only when the set of databases,
    namespaces or buckets changed, and its old one stops after the old workerd. Data lives in
    files, so neither loses any.
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
            # What this version was built from, as it was before loading: an edit made while
            # it loads or starts is the next change (the snapshot taken after starting it
            # missed those, and the edit never reached the stack).
            built = snapshot(loaded.inputs)
            self._seen = built | {path: now[path] for path in built.keys() & now.keys()}
            try:
                await self._apply(loaded)
            except StartFailure as exc:
                log.error("reload failed, the previous version keeps running: %s", exc.reason)
            else:
                log.info("reloaded")
