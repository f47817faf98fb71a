"""Run a stack: prepare, start every component, report ready, supervise, stop in reverse.

Every resource is pushed on one AsyncExitStack as it is acquired (the data-dir
lock, the boot's sockets and children, the add-on), so any way out (a signal,
a start failure, a fatal component) releases them all, in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from groundflare.contracts.events import StoppedEvent
from groundflare.contracts.host import on_stop_signals
from groundflare.events import emit
from groundflare.lock import DataDirLock
from groundflare.stack.boot import Boot, Options

log = logging.getLogger("groundflare")


def serve(options: Options, lock: DataDirLock) -> int:
    """Serve until stopped (0) or raise StartFailure; `lock` is the data dir's, taken before
    anything was written there."""
    return asyncio.run(run(options, lock))


async def run(options: Options, lock: DataDirLock) -> int:
    async with contextlib.AsyncExitStack() as exits:
        exits.callback(lock.release)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        exits.callback(on_stop_signals(loop, stopping.set))
        if options.exit_on_stdin_eof:
            watch_stdin(lambda: loop.call_soon_threadsafe(stopping.set))
        boot = Boot(options)
        exits.push_async_callback(boot.stop)
        if not await _until_first(_start(boot), stopping):
            return 0
        assert boot.supervisor is not None
        boot.ready_sent = True
        ready = boot.ready_event()
        for name, worker_url in ready.workers.items():
            log.info("ready: %s at %s", name, worker_url)
        if options.addon is not None:
            addon = asyncio.ensure_future(options.addon(boot))
            exits.push_async_callback(_cancel, addon)
        emit(ready)
        fatal = asyncio.ensure_future(boot.supervisor.until_fatal())
        exits.push_async_callback(_cancel, fatal)
        stop_wait = asyncio.ensure_future(stopping.wait())
        exits.push_async_callback(_cancel, stop_wait)
        await asyncio.wait({fatal, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not fatal.done():
            await boot.supervisor.stop()
            emit(StoppedEvent())
            return 0
        component = fatal.result()
        assert component.failure is not None
        raise component.failure


def watch_stdin(on_eof: Callable[[], object]) -> None:
    """Call `on_eof` when our stdin reaches its end: a sidecar's host holds the other end of
    that pipe, and the OS closes it however the host dies, on every OS (PR_SET_PDEATHSIG is
    Linux's only). A thread, because Windows' event loop cannot wait on a pipe's handle."""

    def read_to_eof() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 65536):
                pass
        log.info("stdin reached its end: stopping (the host is gone or asked for it)")
        on_eof()

    threading.Thread(target=read_to_eof, name="stdin-eof", daemon=True).start()


async def _start(boot: Boot) -> None:
    # In a thread: building the VM image (first run) takes a while; signals still count.
    await asyncio.to_thread(boot.prepare)
    assert boot.supervisor is not None
    await boot.supervisor.start()


async def _until_first(start: Coroutine[Any, Any, None], stopping: asyncio.Event) -> bool:
    """True once `start` is done; False if a stop was asked first (start is then cancelled)."""
    started = asyncio.ensure_future(start)
    stop_wait = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({started, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    await _cancel(stop_wait)
    if not started.done():
        await _cancel(started)
        return False
    started.result()
    return True


async def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
