"""Per-component log files with size-based rotation (`<name>.log`, `.log.1` ... `.log.N`).

Logs are private (0600): a Worker's output may hold anything its users sent it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

MAX_BYTES = 10 * 1024 * 1024
KEEP = 3


class RotatingLog:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._file: TextIO | None = None
        self._size = 0
        self._open()

    def write_line(self, line: str) -> None:
        if self._file is None:
            self._open()
        data = line + "\n"
        size = len(data.encode("utf-8", "replace"))
        if self._size and self._size + size > self.max_bytes:
            self._rotate()
        assert self._file is not None
        try:
            self._file.write(data)
            self._file.flush()
        except OSError:
            # A full disk: drop what the buffer holds, so the next line starts clean.
            self._abandon()
            raise
        self._size += size

    def _open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = open(fd, "a", encoding="utf-8", errors="replace")  # noqa: PTH123, SIM115
        self._size = self.path.stat().st_size

    def _abandon(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            # Closing fails to flush the buffer, but still closes the descriptor.
            with contextlib.suppress(OSError):
                file.close()

    def _rotate(self) -> None:
        self.close()
        for index in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
