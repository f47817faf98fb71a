"""The guest's serial console, over QEMU's unix socket: its lines go to a sink (a rotated log
under the supervisor), init's progress lines can be waited for, and the host writes this
boot's key through it (vm/key.py).

QEMU waits for this connection before it starts the guest (`wait=on`), so no line is lost;
if the connection goes, QEMU drops the guest's output instead of blocking the guest.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

MAX_LINE = 8192
KEEP_LINES = 200
INIT_PREFIX = "groundflare-init: "

Sink = Callable[[str], None]


class ConsoleClosed(Exception):
    """QEMU closed the console (it exited) before the awaited line came."""


class Console:
    def __init__(self, path: Path, sink: Sink) -> None:
        self.path = path
        self._sink = sink
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._lines: collections.deque[str] = collections.deque(maxlen=KEEP_LINES)
        self._changed = asyncio.Event()
        self._closed = False

    async def connect(self, timeout: float, exited: asyncio.Future[object] | None = None) -> None:
        """Connect as soon as QEMU listens, then pump its output until it closes."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reader, self._writer = await asyncio.open_unix_connection(
                    str(self.path), limit=MAX_LINE
                )
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if (exited is not None and exited.done()) or time.monotonic() > deadline:
                    raise ConsoleClosed(f"the console {self.path} never accepted: {exc}") from exc
                await asyncio.sleep(0.002)
        self._pump = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError as exc:  # a very long line: cut it
                    raw = await reader.readexactly(exc.consumed)
                except asyncio.IncompleteReadError as exc:
                    raw = exc.partial
                    if not raw:
                        return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._lines.append(line)
                with contextlib.suppress(OSError):  # a full disk must not stop the guest
                    self._sink(line)
                self._changed.set()
        except (ConnectionError, OSError):
            return
        finally:
            self._closed = True
            self._changed.set()

    def seen(self, marker: str) -> str | None:
        return next((line for line in self._lines if marker in line), None)

    async def wait_for(self, marker: str, timeout: float) -> str:
        """The first kept line holding `marker` (it may have come already)."""
        deadline = time.monotonic() + timeout
        while (found := self.seen(marker)) is None:
            if self._closed:
                raise ConsoleClosed(f"the console closed before {marker!r}")
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {marker!r} on the console within {timeout:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return found

    async def send(self, data: bytes) -> None:
        if self._writer is None or self._closed:
            raise ConsoleClosed("the console is not connected")
        self._writer.write(data)
        await self._writer.drain()

    def last_words(self, fallback: str) -> str:
        """The guest init's last progress line, for a one-line failure message."""
        said = [line for line in self._lines if INIT_PREFIX in line]
        return said[-1].split(INIT_PREFIX, 1)[1] if said else fallback

    async def closed(self) -> None:
        if self._pump is not None:
            await asyncio.shield(self._pump)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._pump is not None:
            self._pump.cancel()
