"""Where the data dir is by default, and how private files are written into it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs

APP_NAME = "groundflare"
# What the data dir's files and folders are created with: the user's alone.
PRIVATE_UMASK = 0o077


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


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Whatever is created meanwhile, by us or a tool we run (esbuild), is the user's alone.
    The umask is the process's: a file another thread creates meanwhile is private too."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)
