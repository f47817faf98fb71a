"""A child's output: drained whatever happens, as bounded lines, logged and echoed.

A child blocks when its stdout pipe is full, so the supervisor must never stop
reading: a Worker's 1 MiB `console.log`, a full disk under `logs/` or a closed
stderr of our own must cost at most some lost log text, never a frozen stack.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable

from groundflare.logs import RotatingLog

log = logging.getLogger("groundflare")

READ_BYTES = 64 * 1024
# A longer line is cut into pieces of this size, each marked as continued.
MAX_LINE_BYTES = 16 * 1024
CONTINUED = " [continued]"
RECENT_LINES = 20
# workerd's own diagnostics (`path.c++:123: error: ...`, `service NAME: Uncaught ...`,
# `*** Fatal uncaught ...`, `error: ` at the start), as opposed to a Worker's console output.
RUNTIME_ERROR = re.compile(
    r"^(\S+\.c\+\+:\d+: (error|fatal|exception)\b|service \S+: Uncaught |\*\*\* |error: )"
)
# What workerd prints under an error: where it happened.
DETAIL = re.compile(r"^\s+(at |imported from )")


class ChildOutput:
    """Receives a child's raw output; keeps the last lines for failure messages."""

    def __init__(
        self,
        name: str,
        log_file: RotatingLog,
        echo: Callable[[str, str], None],
        transform: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name
        self._transform = transform
        self._log_file = log_file
        self._echo = echo
        self._partial = bytearray()
        self._log_failed = False
        self._echo_failed = False
        self.recent: deque[str] = deque(maxlen=RECENT_LINES)

    async def drain(self, stream: asyncio.StreamReader) -> None:
        """Read to EOF. Never raises for what the output holds or where it cannot go."""
        while chunk := await stream.read(READ_BYTES):
            self.feed(chunk)
        self.finish()

    def feed(self, chunk: bytes) -> None:
        self._partial += chunk
        start = 0
        while (end := self._partial.find(b"\n", start)) != -1:
            while end - start > MAX_LINE_BYTES:
                self._line(self._partial[start : start + MAX_LINE_BYTES], continued=True)
                start += MAX_LINE_BYTES
            self._line(self._partial[start:end])
            start = end + 1
        while len(self._partial) - start > MAX_LINE_BYTES:
            self._line(self._partial[start : start + MAX_LINE_BYTES], continued=True)
            start += MAX_LINE_BYTES
        del self._partial[:start]

    def finish(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial.clear()

    def _line(self, raw: bytes | bytearray, continued: bool = False) -> None:
        text = bytes(raw).decode("utf-8", "replace").rstrip("\r")
        if self._transform is not None:
            text = self._transform(text)
        if continued:
            text += CONTINUED
        self.recent.append(text)
        self._write_log(text)
        self._write_echo(text)

    def _write_log(self, text: str) -> None:
        try:
            self._log_file.write_line(text)
        except OSError as exc:
            if not self._log_failed:
                self._log_failed = True
                log.warning(
                    "%s: cannot write %s (%s); its output is dropped from the log until "
                    "writing works again",
                    self.name,
                    self._log_file.path,
                    exc.strerror or exc,
                )
            return
        if self._log_failed:
            self._log_failed = False
            log.info("%s: writing %s again", self.name, self._log_file.path)

    def _write_echo(self, text: str) -> None:
        if self._echo_failed:
            return
        try:
            self._echo(self.name, text)
        except (OSError, ValueError):
            # Our own stderr is gone (a host that closed it): the log file still has it all.
            self._echo_failed = True

    def last_words(self, fallback: str) -> str:
        """The most telling recent line: the runtime's own last error if there is one (a
        Worker's console output is not a reason), else the last non-empty line."""
        lines = [line for line in self.recent if line.strip()]
        errors = [index for index, line in enumerate(lines) if RUNTIME_ERROR.search(line)]
        if not errors:
            return lines[-1].strip() if lines else fallback
        words = lines[errors[-1]].strip()
        if errors[-1] + 1 < len(lines) and DETAIL.match(lines[errors[-1] + 1]):
            words += f" ({lines[errors[-1] + 1].strip()})"
        return words
