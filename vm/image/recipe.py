"""What the base image holds: busybox, the ordered modules, the init, the sandbox.

Pure: bytes in, archive entries out. The per-boot secrets and mounts are not here;
they travel in a second archive appended at each boot (vm/overlay.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from groundflare.vm.image.cpio import Entry

SANDBOX_PATH = "opt/sandbox/sandbox"
DIRECTORIES = (
    "bin",
    "dev",
    "etc",
    "etc/groundflare",
    "lib",
    "lib/modules",
    "opt",
    "opt/sandbox",
    "proc",
    "root",
    "run",
    "sys",
    "tmp",
    "workspace",
)


def init_script() -> bytes:
    return resources.files("vm.config").joinpath("init").read_bytes()


@dataclass(frozen=True)
class Contents:
    busybox: bytes
    applets: tuple[str, ...]
    modules: tuple[tuple[str, bytes], ...]  # (name, .ko bytes) in load order
    init: bytes
    sandbox: bytes


def entries(contents: Contents) -> list[Entry]:
    found = [Entry.directory(path) for path in DIRECTORIES]
    found[DIRECTORIES.index("root")] = Entry.directory("root", 0o700)
    found[DIRECTORIES.index("tmp")] = Entry.directory("tmp", 0o1777)
    found += [
        Entry.char_device("dev/console", 5, 1),
        Entry.char_device("dev/null", 1, 3, 0o666),
        Entry.file("bin/busybox", contents.busybox, 0o755),
        Entry.file("init", contents.init, 0o755),
        Entry.file(SANDBOX_PATH, contents.sandbox, 0o755),
        Entry.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        Entry.file("etc/group", b"root:x:0:\n"),
        Entry.file("etc/modules", "".join(f"{name}\n" for name, _ in contents.modules).encode()),
    ]
    found += [Entry.file(f"lib/modules/{name}.ko", data) for name, data in contents.modules]
    found += [
        Entry.symlink(f"bin/{applet}", "busybox")
        for applet in contents.applets
        if applet != "busybox"
    ]
    return found
