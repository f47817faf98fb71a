"""Snapshots of a booted guest, waiting for its key: QEMU's migration stream, saved at the
first boot of a configuration and restored (`-incoming defer`, then `migrate-incoming`) by
every later boot, which skips the kernel and init work before the key (docs/vm.md).

A snapshot holds nothing of any boot: it is taken before the key (token, seed, time,
mounts, contract) is sent, and before any untrusted code has run in the guest. Its name is
the hash of everything that shapes the saved state: the image, QEMU's command line with the
per-boot values (ports, host paths) left out, the QEMU binary, the writable disk's size.
A restored guest must see exactly the devices it was saved with; any change is a new name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from groundflare.contracts.host import try_lock

STATE_FILE = "state"
KEEP = 6


@dataclass(frozen=True)
class SnapshotPlan:
    """Where this boot's snapshot is (restore: it exists) or goes (save)."""

    key: str
    path: Path
    restore: bool


def snapshot_key(identity: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def binary_identity(path: str) -> str:
    """A QEMU binary by size and time: an upgraded QEMU may not load an older stream."""
    try:
        stat = Path(path).stat()
    except OSError:
        return path  # not there: QEMU will say so when it is started
    return f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def plan(store: Path, key: str) -> SnapshotPlan:
    path = store / key[:24] / STATE_FILE
    return SnapshotPlan(key, path, restore=path.is_file())


@contextlib.contextmanager
def writing(target: SnapshotPlan) -> Iterator[int | None]:
    """A descriptor to save the stream to (None: another boot is saving this one already);
    the file takes its name only once `commit` says the stream is complete."""
    folder = target.path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as guard:
        if not try_lock(guard.fileno()) or target.path.is_file():
            yield None
            return
        tmp = folder / f".{STATE_FILE}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            yield fd
        finally:
            os.close(fd)
            tmp.unlink(missing_ok=True)


def commit(target: SnapshotPlan, fd: int) -> None:
    """The stream in `fd` is complete: make it the snapshot."""
    os.fsync(fd)
    tmp = target.path.parent / f".{STATE_FILE}.{os.getpid()}"
    tmp.replace(target.path)
    _prune(target.path.parent.parent)


def _prune(store: Path) -> None:
    """Keep the KEEP most recently used snapshots (each some tens of MB)."""
    found = sorted(
        (p for p in store.iterdir() if (p / STATE_FILE).is_file()),
        key=lambda p: (p / STATE_FILE).stat().st_mtime,
        reverse=True,
    )
    for old in found[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def open_for_restore(target: SnapshotPlan) -> int:
    """A read-only descriptor on the saved stream (QEMU reads it through QMP's getfd)."""
    fd = os.open(target.path, os.O_RDONLY)
    os.utime(target.path)  # recently used: pruning keeps it
    return fd
