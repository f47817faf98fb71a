"""Readiness: the sandbox's health path answering 200 (with its credential) through the
forwarded port.

Before the guest's network is up, slirp accepts the host connection at once and then
holds it (the guest does not answer yet), so one long attempt can sit idle after the
sandbox is up. Attempts therefore start every INTERVAL, overlapping, each with its own
short deadline; the first 200 wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any

from groundflare.vm.errors import VmUnavailable
from groundflare.vm.launch import Health

INTERVAL = 0.05
ATTEMPT_TIMEOUT = 1.0


class NotReady(VmUnavailable):
    """The sandbox did not answer /health in time, or the VM exited first."""


async def probe(health: Health, host: str = "127.0.0.1") -> bool:
    """One GET of the health path with the sandbox's credential; True on a 200."""
    try:
        reader, writer = await asyncio.open_connection(host, health.port)
    except OSError:
        return False
    try:
        writer.write(
            f"GET {health.path} HTTP/1.1\r\nHost: sandbox\r\n{health.header}: {health.value}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status = await reader.readline()
        return status.split(b" ")[1:2] == [b"200"]
    except OSError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _attempt(health: Health) -> bool:
    try:
        return await asyncio.wait_for(probe(health), ATTEMPT_TIMEOUT)
    except TimeoutError:
        return False


async def wait_healthy(
    health: Health, timeout: float, exited: Awaitable[object] | None = None
) -> float:
    """Seconds until /health answered; NotReady after `timeout` or if `exited` completes first."""
    started = time.monotonic()
    deadline = started + timeout
    watcher = asyncio.ensure_future(exited) if exited is not None else None
    attempts: set[asyncio.Task[bool]] = set()
    next_start = started
    try:
        while (now := time.monotonic()) < deadline:
            if now >= next_start:
                attempts.add(asyncio.ensure_future(_attempt(health)))
                next_start = now + INTERVAL
            waiting: set[asyncio.Future[Any]] = {*attempts, *([watcher] if watcher else [])}
            if not waiting:  # every attempt already failed: wait for the next one's turn
                await asyncio.sleep(next_start - now)
                continue
            done, _ = await asyncio.wait(
                waiting, timeout=next_start - now, return_when=asyncio.FIRST_COMPLETED
            )
            if watcher is not None and watcher in done:
                raise NotReady(
                    f"the VM exited before its sandbox answered /health ({watcher.result()})"
                )
            for task in done & attempts:
                attempts.discard(task)
                if task.result():
                    return time.monotonic() - started
        raise NotReady(
            f"the sandbox did not answer {health.path} on 127.0.0.1:{health.port} "
            f"within {timeout:.0f} s"
        )
    finally:
        for task in attempts:
            task.cancel()
        await asyncio.gather(*attempts, return_exceptions=True)
        if watcher is not None and not watcher.done():
            watcher.cancel()
