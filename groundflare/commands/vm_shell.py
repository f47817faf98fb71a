"""`groundflare vm shell`: a person's interactive shell in the running stack's sandbox.

It goes through the sandbox, as anything of the frontend's does: a WebSocket to the
sandbox's shell endpoint (the profile contract's `pty_path`) with this run's token (from
the 0600 `run/sandbox.json`), never a host path or a host shell. The local terminal is put
in raw mode; its bytes go out as binary frames, the sandbox's come back the same way, and a
window-size change is sent as `{"type":"resize","cols":C,"rows":R}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, WebSocketUpgradeError, aconnect_ws
from wsproto.events import BytesMessage

from groundflare.contracts.sandbox import SandboxAddress

READ_BYTES = 65536
# A shell's output arrives in small frames; this only bounds a runaway one.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ShellError(Exception):
    """No shell could be opened; the message says why."""


def terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return 80, 24
    return size.columns, size.lines


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Keystrokes go to the sandbox as typed (Ctrl-C included); restored on the way out."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)  # keep what was typed before the shell opened
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def shell(address: SandboxAddress) -> int:
    if address.pty_path is None:
        raise ShellError("this sandbox has no shell endpoint (vm.sandbox.pty_path is null)")
    cols, rows = terminal_size()
    url = f"{address.url}{address.pty_path}?cols={cols}&rows={rows}"
    header, value = address.credential()
    try:
        async with (
            httpx.AsyncClient(headers={header: value}, timeout=None) as client,
            aconnect_ws(
                url,
                client,
                max_message_size_bytes=MAX_MESSAGE_BYTES,
                keepalive_ping_interval_seconds=None,
                session_class=AsyncWebSocketSession,
            ) as ws,
        ):
            await _relay(ws)
    except WebSocketUpgradeError as exc:
        status = exc.response.status_code
        raise ShellError(
            f"the sandbox refused the shell: {status} {exc.response.reason_phrase}"
        ) from exc
    except httpx.HTTPError as exc:
        raise ShellError(f"cannot reach the sandbox at {address.url}: {exc}") from exc
    return 0


async def _relay(ws: AsyncWebSocketSession) -> None:
    """Terminal to sandbox and back until the shell ends (or our input does)."""
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    outgoing: asyncio.Queue[bytes | str | None] = asyncio.Queue()

    def typed() -> None:
        data = os.read(stdin, READ_BYTES)
        if not data:  # end of input: close, the sandbox ends the shell
            loop.remove_reader(stdin)
        outgoing.put_nowait(data or None)

    def resized() -> None:
        cols, rows = terminal_size()
        outgoing.put_nowait(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    async def send() -> None:
        while (item := await outgoing.get()) is not None:
            await (ws.send_bytes(item) if isinstance(item, bytes) else ws.send_text(item))
        await ws.close()

    with raw_terminal(stdin):
        loop.add_reader(stdin, typed)
        loop.add_signal_handler(signal.SIGWINCH, resized)
        sender = asyncio.create_task(send())
        try:
            while True:
                try:
                    message = await ws.receive()
                except WebSocketDisconnect:
                    break
                if isinstance(message, BytesMessage):
                    os.write(sys.stdout.fileno(), message.data)
        finally:
            loop.remove_reader(stdin)
            loop.remove_signal_handler(signal.SIGWINCH)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError, WebSocketDisconnect):
                await sender
