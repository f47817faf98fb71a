"""One boot of the QEMU guest once its process is started: the console connected, the guest
restored from its snapshot (or booted cold, and the snapshot taken at its key prompt), this
boot's key sent, the sandbox's health answering.

Run by the supervisor's readiness and by vm.runner alike, so what is tested is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from groundflare.vm import snapshot
from groundflare.vm.console import Console, ConsoleClosed, Sink
from groundflare.vm.health import NotReady, wait_healthy
from groundflare.vm.key import KEYED, WAITING, key_line
from groundflare.vm.launch import LaunchSpec
from groundflare.vm.qmp import Qmp, QmpError

log = logging.getLogger("groundflare")
T = TypeVar("T")
KEY_ACK_SECONDS = 2.0
KEY_ATTEMPTS = 5
POLL_SECONDS = 0.005
FINAL = ("completed", "failed", "cancelled")
# Migration runs with the guest stopped, so nothing is gained by QEMU's default throttle.
SAVE_BANDWIDTH = 1 << 40


@dataclass
class BootReport:
    restored: bool  # from a snapshot
    saved: bool  # this boot took the snapshot
    keyed_seconds: float  # from boot() to the guest's acknowledgement of its key
    seconds: float  # from boot() to the sandbox's health answering
    # Seconds from boot() to the end of each step, in order (for `make bench`).
    steps: dict[str, float] = field(default_factory=dict)


class _Exited(Exception):
    pass


async def _unless_exited(step: Awaitable[T], exited: asyncio.Future[Any]) -> T:
    """The step's result, or _Exited when QEMU exits first."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task, exited}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise _Exited(f"QEMU exited ({exited.result()})")


async def boot(
    launch: LaunchSpec,
    sink: Sink,
    exited: Awaitable[object],
    timeout: float,
    on_console: Callable[[Console], None] | None = None,
) -> BootReport:
    """Drive one boot to a healthy sandbox; NotReady says why not. The console keeps
    pumping into `sink` after this returns, until QEMU exits (`on_console` gets it first)."""
    assert launch.console_socket and launch.control_socket and launch.guest and launch.health
    started = time.monotonic()
    deadline = started + timeout
    watcher = asyncio.ensure_future(exited)
    console = Console(launch.console_socket, sink)
    restored = saved = False
    steps: dict[str, float] = {}

    def step(name: str) -> None:
        steps[name] = time.monotonic() - started

    try:
        await console.connect(timeout, watcher)
        step("console")
        if on_console is not None:
            on_console(console)
        qmp = await _unless_exited(Qmp.connect(launch.control_socket), watcher)
        step("qmp")
        try:
            plan = launch.snapshot
            if plan is not None and plan.restore:
                await _unless_exited(_restore(qmp, plan), watcher)
                restored = True
                step("restored")
            else:
                await _unless_exited(console.wait_for(WAITING, timeout), watcher)
                step("booted")
                if plan is not None:
                    saved = await _unless_exited(_save(qmp, plan), watcher)
                    step("saved")
        finally:
            qmp.close()
        await _unless_exited(_key(console, launch), watcher)
        step("keyed")
        left = max(deadline - time.monotonic(), 1.0)
        await wait_healthy(launch.health, left, watcher)
        step("healthy")
    except _Exited as exc:
        if launch.snapshot is not None and launch.snapshot.restore and watcher.result() == 1:
            _discard(launch)  # QEMU's own error exit, not a signal
        raise NotReady(f"{exc}: {console.last_words('before the guest said anything')}") from exc
    except (TimeoutError, ConsoleClosed, QmpError, OSError) as exc:
        raise NotReady(f"{exc} ({console.last_words('the guest said nothing')})") from exc
    finally:
        if not watcher.done():
            watcher.cancel()
    return BootReport(restored, saved, steps["keyed"], time.monotonic() - started, steps)


def _discard(launch: LaunchSpec) -> None:
    """A snapshot QEMU refused to restore (a changed QEMU or device): the next boot is cold
    and takes a new one."""
    if launch.snapshot is not None:
        log.warning("the VM snapshot %s did not restore; it is dropped", launch.snapshot.path)
        launch.snapshot.path.unlink(missing_ok=True)


async def _migration(qmp: Qmp) -> str:
    """The migration's final status (QEMU 7.2 has no event to wait for)."""
    while (status := str((await qmp.execute("query-migrate")).get("status"))) not in FINAL:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)
    return status


async def _restore(qmp: Qmp, plan: snapshot.SnapshotPlan) -> None:
    fd = snapshot.open_for_restore(plan)
    try:
        await qmp.execute("getfd", {"fdname": "snapshot"}, fds=(fd,))
    finally:
        os.close(fd)
    await qmp.execute("migrate-incoming", {"uri": "fd:snapshot"})
    if (status := await _migration(qmp)) != "completed":
        raise QmpError(f"restoring the snapshot {status}")
    # The guest was saved stopped (vm.boot._save), and comes back stopped.
    await qmp.execute("cont")


async def _save(qmp: Qmp, plan: snapshot.SnapshotPlan) -> bool:
    """Save the stopped guest's state; True once the snapshot is complete on disk."""
    with snapshot.writing(plan) as fd:
        if fd is None:
            return False  # another boot is saving it
        started = time.monotonic()
        await qmp.execute("stop")
        try:
            await qmp.execute("migrate-set-parameters", {"max-bandwidth": SAVE_BANDWIDTH})
            await qmp.execute("getfd", {"fdname": "snapshot"}, fds=(fd,))
            await qmp.execute("migrate", {"uri": "fd:snapshot"})
            if (status := await _migration(qmp)) == "completed":
                snapshot.commit(plan, fd)
                log.info("VM snapshot saved in %.2f s: %s", time.monotonic() - started, plan.path)
            else:
                log.warning("the VM snapshot was not saved (migration %s)", status)
        finally:
            await qmp.execute("cont")
        return status == "completed"


async def _key(console: Console, launch: LaunchSpec) -> None:
    """Send the key until init acknowledges it (a line lost on the way is sent again)."""
    assert launch.guest is not None
    for _ in range(KEY_ATTEMPTS):
        await console.send(key_line(launch.guest))
        with contextlib.suppress(TimeoutError):
            await console.wait_for(KEYED, KEY_ACK_SECONDS)
            return
    raise TimeoutError(f"the guest did not take its key in {KEY_ATTEMPTS} attempts")
