"""Child processes: started in their own process group, tied to our life, logs pumped.

Readiness is a real signal, never a sleep: the child writes JSON events to a
control pipe (workerd's `--control-fd` protocol, which the shim speaks too).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from contracts.secrets_pipe import SECRETS_FD_PLACEHOLDER, secrets_pipe
from groundflare.logs import RotatingLog

log = logging.getLogger("groundflare")

STOP_GRACE_SECONDS = 5.0
PR_SET_PDEATHSIG = 1


class FailureClass(StrEnum):
    """Why a component failed, each with what the user can do about it."""

    MISSING = "missing"
    CONFIG = "config"
    PORT_IN_USE = "port-in-use"
    NOT_READY = "not-ready"
    CRASH_LOOP = "crash-loop"

    @property
    def advice(self) -> str:
        return {
            FailureClass.MISSING: "install it (make setup) or fix its path",
            FailureClass.CONFIG: "it rejected its configuration; fix the config it names",
            FailureClass.PORT_IN_USE: "pick another --port (0 picks a free one)",
            FailureClass.NOT_READY: "it did not become ready in time; see its log",
            FailureClass.CRASH_LOOP: "it keeps exiting; see its log in logs/",
        }[self]


class ChildFailed(Exception):
    """A child could not start, or exited or misbehaved before it was ready."""

    def __init__(self, component: str, reason: str, failure: FailureClass) -> None:
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason
        self.failure = failure


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL us when the supervisor dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: RotatingLog
    # Each line of output passes through this to stderr, prefixed with the component name.
    echo: Callable[[str, str], None]
    # Already-open descriptors the child inherits (listening sockets), besides its control fd.
    pass_fds: tuple[int, ...] = ()
    # Handed over a pipe whose fd replaces `{secrets_fd}` in argv: never in environ.
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass
class Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    # The last lines of output: a failure message quotes the most telling one.
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> None:
        read_fd, write_fd = os.pipe()
        secrets_fd = secrets_pipe(self.spec.secrets) if self.spec.secrets else None
        argv = [
            arg.replace("{control_fd}", str(write_fd)).replace(
                SECRETS_FD_PLACEHOLDER, str(secrets_fd)
            )
            for arg in self.spec.argv
        ]
        extra = () if secrets_fd is None else (secrets_fd,)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.spec.env,
                cwd=self.spec.cwd,
                pass_fds=(write_fd, *extra, *self.spec.pass_fds),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            os.close(read_fd)
            raise ChildFailed(
                self.spec.name, f"cannot start {argv[0]}: {exc.strerror}", FailureClass.MISSING
            ) from exc
        finally:
            os.close(write_fd)
            if secrets_fd is not None:
                os.close(secrets_fd)
        assert self.process.stdout is not None
        self._tasks.append(asyncio.create_task(self._pump(self.process.stdout)))
        self._tasks.append(asyncio.create_task(self._read_events(read_fd)))

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.spec.log.write_line(text)
            self.recent.append(text)
            self.spec.echo(self.spec.name, text)

    async def _read_events(self, read_fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        try:
            while line := await reader.readline():
                with contextlib.suppress(json.JSONDecodeError):
                    await self.events.put(json.loads(line))
        finally:
            transport.close()
            await self.events.put({"event": "eof"})

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        """Wait for a control event; the child exiting first is a failure with its last words."""

        async def watch() -> None:
            while True:
                event = await self.events.get()
                if event.get("event") == "eof":
                    words = self.last_words("exited before it was ready")
                    failure = (
                        FailureClass.PORT_IN_USE
                        if "Address already in use" in words
                        else FailureClass.CONFIG
                    )
                    raise ChildFailed(self.spec.name, words, failure)
                if predicate(event):
                    return

        try:
            await asyncio.wait_for(watch(), timeout)
        except TimeoutError as exc:
            raise ChildFailed(
                self.spec.name, f"not ready after {timeout:.0f} s", FailureClass.NOT_READY
            ) from exc

    def last_words(self, fallback: str) -> str:
        """The child's most telling recent output line, for a one-line failure message."""
        meaningful = [line.strip() for line in self.recent if line.strip()]
        return meaningful[-1] if meaningful else fallback

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return code

    async def stop(self) -> None:
        """SIGTERM the process group, wait, then SIGKILL it."""
        if self.process is None or self.process.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning(
                "%s did not stop within %.0f s; killing it", self.spec.name, STOP_GRACE_SECONDS
            )
            self._signal_group(signal.SIGKILL)
            await self.process.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
