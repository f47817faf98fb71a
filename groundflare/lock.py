"""One supervisor per data dir: an exclusive lock on `run/supervisor.lock` holding its pid."""

from __future__ import annotations

import os
from pathlib import Path

from groundflare.contracts.host import try_lock


class DataDirBusy(Exception):
    def __init__(self, path: Path, owner: int | None) -> None:
        who = f"groundflare pid {owner}" if owner else "another groundflare"
        super().__init__(
            f"{path.parent.parent} is in use by {who}: stop it first, or use another --data-dir"
        )
        self.owner = owner


class DataDirLock:
    """Held for the supervisor's life; the OS releases it if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_lock(fd):
            content = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise DataDirBusy(self.path, int(content) if content.isdigit() else None)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
