"""Child processes: started in their own process group, tied to our life, logs pumped.

Readiness is a real signal, never a sleep: the child writes JSON events to a
control pipe (workerd's `--control-fd` protocol, which the shim speaks too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundflare.contracts.control import RefusedEvent
from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.contracts.host import ask_group_to_stop, child_start_options, kill_group
from groundflare.contracts.secrets_pipe import SECRETS_FD_PLACEHOLDER, secrets_pipe
from groundflare.logs import RotatingLog
from groundflare.output import ChildOutput
from groundflare.paths import PRIVATE_UMASK

log = logging.getLogger("groundflare")

STOP_GRACE_SECONDS = 5.0
# After a child exits, how long its pipes may stay open (a grandchild holding them).
OUTPUT_GRACE_SECONDS = 2.0


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
    # PR_SET_PDEATHSIG on Linux; off only to show that stdin's EOF alone ends a stack.
    die_with_parent: bool = True
    # Rewrites each output line before it is kept, logged and echoed (groundflare/sourcemaps.py).
    transform: Callable[[str], str] | None = None


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Sees the exit as soon as the process ends, whoever still holds its pipes (asyncio's
    Process.wait() also waits for the pipes to close, which a stuck reader never sees)."""

    def __init__(self, output: ChildOutput) -> None:
        self._output = output
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._output.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._output.finish()
        if not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


@dataclass
class Child:
    spec: ChildSpec
    transport: asyncio.SubprocessTransport | None = None
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    output: ChildOutput | None = None
    _protocol: _ChildProtocol | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.transport.get_pid() if self.transport else None

    @property
    def returncode(self) -> int | None:
        return self.transport.get_returncode() if self.transport else None

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
        self.output = ChildOutput(
            self.spec.name, self.spec.log, self.spec.echo, self.spec.transform
        )
        output = self.output
        loop = asyncio.get_running_loop()
        try:
            self.transport, self._protocol = await loop.subprocess_exec(
                lambda: _ChildProtocol(output),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.spec.env,
                cwd=self.spec.cwd,
                pass_fds=(write_fd, *extra, *self.spec.pass_fds),
                **child_start_options(self.spec.die_with_parent),
                # What a child creates in the data dir (databases, DO storage) is private.
                umask=PRIVATE_UMASK,
            )
        except OSError as exc:
            os.close(read_fd)
            raise StartFailure(
                self.spec.name, f"cannot start {argv[0]}: {exc.strerror}", FailureClass.MISSING
            ) from exc
        finally:
            os.close(write_fd)
            if secrets_fd is not None:
                os.close(secrets_fd)
        self._tasks.append(asyncio.create_task(self._read_events(read_fd)))

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
                if event.get("event") == "refused":
                    refused = RefusedEvent.model_validate(event)
                    raise StartFailure(self.spec.name, refused.reason, refused.failure)
                if event.get("event") == "eof":
                    words = self.last_words("exited before it was ready")
                    failure = (
                        FailureClass.PORT_IN_USE
                        if "Address already in use" in words
                        else FailureClass.CONFIG
                    )
                    raise StartFailure(self.spec.name, words, failure)
                if predicate(event):
                    return

        try:
            await asyncio.wait_for(watch(), timeout)
        except TimeoutError as exc:
            raise StartFailure(
                self.spec.name, f"not ready after {timeout:.0f} s", FailureClass.NOT_READY
            ) from exc

    def last_words(self, fallback: str) -> str:
        """The child's most telling recent output line, for a one-line failure message."""
        return self.output.last_words(fallback) if self.output else fallback

    async def exited(self) -> int:
        """The exit status, as soon as the process ends (its pipes may outlive it)."""
        assert self._protocol is not None and self.transport is not None
        await asyncio.shield(self._protocol.exited)
        code = self.transport.get_returncode()
        assert code is not None
        return code

    async def wait(self) -> int:
        """The exit status, once the output written before the exit has been read too."""
        code = await self.exited()
        await self._settle()
        return code

    async def _settle(self) -> None:
        """Read what the dead child left in its pipes; a grandchild that keeps them open
        is not waited for past OUTPUT_GRACE_SECONDS."""
        assert self._protocol is not None and self.transport is not None
        pending = [asyncio.shield(self._protocol.drained), *self._tasks]
        await asyncio.wait(pending, timeout=OUTPUT_GRACE_SECONDS)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.transport.close()

    async def stop(self) -> None:
        """Ask the process group to stop (SIGTERM; CTRL_BREAK on Windows), wait, then kill it."""
        if self.transport is None:
            return
        if self.transport.get_returncode() is None:
            assert self.pid is not None
            ask_group_to_stop(self.pid)
            try:
                await asyncio.wait_for(self.exited(), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning(
                    "%s did not stop within %.0f s; killing it", self.spec.name, STOP_GRACE_SECONDS
                )
                kill_group(self.pid)
                await self.exited()
        await self._settle()
