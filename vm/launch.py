"""What every backend hands the supervisor: a process to start and the files it needs.

Backends build a LaunchSpec without touching the disk, so command builders are unit
tested on their output; `prepare()` then writes the run dir. Secrets live only in those
files (0600 in the 0700 run dir), never in argv or the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from groundflare.vm.accel import Accel
from groundflare.vm.overlay import GuestConfig
from groundflare.vm.snapshot import SnapshotPlan
from groundflare.vm.writable import WritableDisk


@dataclass(frozen=True)
class Network:
    """The two ends the host side knows: where the sandbox is forwarded, what the guest may call."""

    sandbox_host_port: int  # 127.0.0.1 port forwarded to the sandbox's port in the guest
    controlplane_url: str  # e.g. http://127.0.0.1:8787: the one host service the guest reaches


@dataclass(frozen=True)
class Health:
    """How readiness asks the sandbox: GET `path` with its credential on the forwarded port."""

    port: int
    header: str
    value: str  # the credential: the token, or "<scheme> <token>"
    path: str = "/health"


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user QEMU runs as when we are root."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class FileToWrite:
    """A file in the run dir: the concatenation of its parts (bytes, or a file's contents)."""

    name: str
    parts: tuple[bytes | Path, ...]
    mode: int = 0o600
    # A single Path part may be hard-linked instead of copied (a shared, read-only kernel).
    link: bool = False


@dataclass(frozen=True)
class LaunchSpec:
    """argv/env/cwd/pass_fds for the supervisor's ChildSpec, plus what to write first."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    files: tuple[FileToWrite, ...] = ()
    pass_fds: tuple[int, ...] = ()
    run_as: RunAs | None = None
    accel: Accel | None = None
    console_log: Path | None = None
    control_socket: Path | None = None  # QMP (Linux), REST (vfkit)
    # Helper processes to start before (and stop after) the VM: relays on macOS. None on Linux.
    companions: tuple[LaunchSpec, ...] = ()
    # One-time commands to run before the first start (WSL's import). None on Linux.
    setup: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = field(default=())
    health: Health | None = None
    # The serial console (Linux): the guest's output, and the channel its key is sent on.
    console_socket: Path | None = None
    # What the key sent on the console holds (None: the configuration is in the initramfs).
    guest: GuestConfig | None = None
    # Restore this boot from a snapshot, or save one at its key prompt (QEMU on Linux).
    snapshot: SnapshotPlan | None = None
    # Per-profile disks to create if missing (linked into the run dir by `files`).
    disks: tuple[WritableDisk, ...] = ()

    def prepare(self) -> None:
        """Create the run dir (0700) and its files (owned by QEMU's user when we are root)."""
        self.cwd.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.cwd.chmod(0o700)
        if self.console_log is not None and self.console_log.exists():
            # The previous boot's console, kept once: why did it stop?
            self.console_log.replace(self.console_log.with_name(self.console_log.name + ".1"))
        for socket in (self.control_socket, self.console_socket):
            if socket is not None:
                socket.unlink(missing_ok=True)
        for disk in self.disks:
            disk.ensure(self.run_as.uid if self.run_as else None)
        for item in self.files:
            _write(self.cwd / item.name, item)
        if self.run_as is not None:
            os.chown(self.cwd, self.run_as.uid, self.run_as.gid)
            for item in self.files:
                if not item.link:  # a hard link shares the cache's inode: leave its owner
                    os.chown(self.cwd / item.name, self.run_as.uid, self.run_as.gid)


def _write(path: Path, item: FileToWrite) -> None:
    path.unlink(missing_ok=True)
    if item.link and len(item.parts) == 1 and isinstance(item.parts[0], Path):
        with contextlib.suppress(OSError):
            os.link(item.parts[0], path)
            return
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, item.mode)
    with os.fdopen(fd, "wb") as out:
        for part in item.parts:
            if isinstance(part, Path):
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
            else:
                out.write(part)
    tmp.chmod(item.mode)
    tmp.replace(path)
