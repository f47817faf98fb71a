"""Where the data dir is by default, and how private files are written into it."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "groundflare"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def write_private(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically (temp name, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
