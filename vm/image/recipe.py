"""What the initramfs holds: busybox, the ordered modules, the init, gf-guest, the sandbox.

Pure: bytes in, archive entries out. The per-boot configuration and secrets are not here;
they reach the booted guest separately (vm/overlay.py, vm/key.py).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from groundflare.vm.image.cpio import Entry

SANDBOX_DIR = "opt/sandbox"
DIRECTORIES = (
    "bin",
    "dev",
    "etc",
    "etc/groundflare",
    "lib",
    "lib/groundflare",
    "lib/modules",
    "opt",
    SANDBOX_DIR,
    "proc",
    "root",
    "run",
    "sys",
    "tmp",
    "workspace",
)


def guest_file(name: str) -> bytes:
    """A file of vm/config/ (the init scripts)."""
    return resources.files("groundflare.vm.config").joinpath(name).read_bytes()


@dataclass(frozen=True)
class SandboxFile:
    """One file of the sandbox (its binary, or a file of its folder) or a symlink in it."""

    path: str  # relative to /opt/sandbox
    data: bytes
    mode: int  # permission bits, or a symlink's S_IFLNK


def sandbox_files(source: Path) -> tuple[SandboxFile, ...]:
    """The binary as /opt/sandbox/sandbox, or a folder's regular files, folders and symlinks
    under /opt/sandbox (anything else in the folder is refused)."""
    if source.is_file():
        return (SandboxFile("sandbox", source.read_bytes(), 0o755),)
    found = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found.append(SandboxFile(relative, str(path.readlink()).encode(), stat.S_IFLNK))
        elif stat.S_ISDIR(info.st_mode):
            found.append(SandboxFile(relative, b"", stat.S_IFDIR | 0o755))
        elif stat.S_ISREG(info.st_mode):
            mode = 0o755 if info.st_mode & 0o111 else 0o644
            found.append(SandboxFile(relative, path.read_bytes(), mode))
        else:
            raise ValueError(f"{path}: only files, folders and symlinks can go into the image")
    return tuple(found)


@dataclass(frozen=True)
class Contents:
    busybox: bytes
    applets: tuple[str, ...]
    modules: tuple[tuple[str, bytes], ...]  # (name, .ko bytes) in load order
    guest_tool: bytes
    sandbox: tuple[SandboxFile, ...]
    rootfs: bool  # the dev-tools image: a root file system disk to switch to


def _sandbox_entry(item: SandboxFile) -> Entry:
    path = f"{SANDBOX_DIR}/{item.path}"
    if item.mode == stat.S_IFLNK:
        return Entry.symlink(path, item.data.decode())
    if stat.S_ISDIR(item.mode):
        return Entry.directory(path)
    return Entry.file(path, item.data, item.mode)


def entries(contents: Contents) -> list[Entry]:
    found = [Entry.directory(path) for path in DIRECTORIES]
    found[DIRECTORIES.index("root")] = Entry.directory("root", 0o700)
    found[DIRECTORIES.index("tmp")] = Entry.directory("tmp", 0o1777)
    found += [
        Entry.char_device("dev/console", 5, 1),
        Entry.char_device("dev/null", 1, 3, 0o666),
        Entry.file("bin/busybox", contents.busybox, 0o755),
        Entry.file("bin/gf-guest", contents.guest_tool, 0o755),
        Entry.file("init", guest_file("init"), 0o755),
        Entry.file("lib/groundflare/sandbox.sh", guest_file("sandbox.sh"), 0o755),
        Entry.file("etc/groundflare/image", f"ROOTFS={int(contents.rootfs)}\n".encode()),
        Entry.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        Entry.file("etc/group", b"root:x:0:\n"),
        Entry.file("etc/modules", "".join(f"{name}\n" for name, _ in contents.modules).encode()),
    ]
    found += [Entry.file(f"lib/modules/{name}.ko", data) for name, data in contents.modules]
    found += [_sandbox_entry(item) for item in contents.sandbox]
    found += [
        Entry.symlink(f"bin/{applet}", "busybox")
        for applet in contents.applets
        if applet != "busybox"
    ]
    return found
