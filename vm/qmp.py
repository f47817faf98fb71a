"""Just enough QMP: commands with an answer, passing a file descriptor (SCM_RIGHTS) for the
snapshot's migration stream, and `quit` (QEMU exits in ~6 ms, shared/specs/microvm-notes.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any


class QmpError(Exception):
    """QEMU refused a command, or its monitor went away; the message says which."""


class Qmp:
    """One monitor connection, capabilities negotiated; events are skipped."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    @classmethod
    async def connect(cls, path: Path, timeout: float = 5.0) -> Qmp:
        """Connect once QEMU listens (it creates the socket as it starts)."""
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"QMP socket {path} did not accept: {exc}") from exc
                await asyncio.sleep(0.005)
        session = cls(sock)
        await session._message()  # the greeting
        await session.execute("qmp_capabilities")
        return session

    async def _message(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        while b"\n" not in self._buffer:
            data = await loop.sock_recv(self._sock, 65536)
            if not data:
                raise QmpError("QEMU closed its monitor")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return dict(json.loads(line))

    async def execute(
        self, name: str, arguments: dict[str, Any] | None = None, fds: tuple[int, ...] = ()
    ) -> Any:
        """The command's `return` value; QmpError with QEMU's description on an error."""
        message = {"execute": name} | ({"arguments": arguments} if arguments else {})
        data = json.dumps(message).encode() + b"\n"
        if fds:  # a small message on a local socket: sent whole, with the descriptors
            socket.send_fds(self._sock, [data], list(fds))
        else:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        while True:
            answer = await self._message()
            if "return" in answer:
                return answer["return"]
            if "error" in answer:
                raise QmpError(f"{name}: {answer['error'].get('desc', answer['error'])}")

    def close(self) -> None:
        self._sock.close()


async def command(socket_path: Path, execute: str, timeout: float = 2.0) -> dict[str, object]:
    """Connect, run one command, return its answer ({} if QEMU hung up first)."""

    async def talk() -> dict[str, object]:
        session = await Qmp.connect(socket_path, timeout)
        try:
            with contextlib.suppress(QmpError):
                answer = await session.execute(execute)
                return answer if isinstance(answer, dict) else {}
            return {}
        finally:
            session.close()

    return await asyncio.wait_for(talk(), timeout)
