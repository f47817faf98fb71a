"""The Debian packages the image is made of: fetched by fetch-debs.sh (beside this file, in the
wheel too), unpacked here.

The download is apt's (`apt-get download`); nothing is installed on the host: packages are
unpacked with `dpkg-deb -x`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

FETCH_SCRIPT = Path(__file__).resolve().parent / "fetch-debs.sh"


class FetchError(Exception):
    """The packages could not be downloaded; the message says what apt said."""


@functools.lru_cache(maxsize=64)
def file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """A file's hash, remembered per (path, size, mtime): the kernel .deb is 70 MB."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Deb:
    package: str
    version: str
    path: Path

    def sha256(self) -> str:
        stat = self.path.stat()
        return file_sha256(self.path, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Debs:
    kernel: Deb
    busybox: Deb


def fetch(dest: Path) -> Debs:
    """Download (or reuse) the kernel and busybox-static .debs into dest."""
    if not FETCH_SCRIPT.is_file():
        raise FetchError(f"{FETCH_SCRIPT} is missing: reinstall groundflare")
    result = subprocess.run(
        ["sh", str(FETCH_SCRIPT), str(dest)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise FetchError(f"fetch-debs.sh failed: {result.stderr.strip() or result.stdout.strip()}")
    found: dict[str, Deb] = {}
    for line in result.stdout.splitlines():
        package, version, path = line.split(" ", 2)
        found["busybox" if package == "busybox-static" else "kernel"] = Deb(
            package, version, Path(path)
        )
    return Debs(kernel=found["kernel"], busybox=found["busybox"])


def unpack(deb: Deb, dest: Path) -> None:
    """dpkg-deb -x: the package's files under dest, nothing run, nothing installed."""
    dest.mkdir(parents=True, exist_ok=True)
    run_tool(["dpkg-deb", "-x", str(deb.path), str(dest)])


def depmod(root: Path, version: str) -> None:
    """The .deb ships no modules.dep (its postinst makes it): make it in the unpacked tree."""
    tool = shutil.which("depmod") or next(
        (p for p in ("/usr/sbin/depmod", "/sbin/depmod") if Path(p).exists()), None
    )
    if tool is None:
        raise FetchError("depmod not found: install kmod (make vm-host)")
    run_tool([tool, "-b", str(root), version], env={**os.environ, "LC_ALL": "C"})


def run_tool(argv: list[str], env: dict[str, str] | None = None) -> None:
    """A tool's output is captured: the supervisor's stdout carries only its JSON events."""
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        words = (result.stderr or result.stdout).strip().splitlines()
        raise FetchError(
            f"{Path(argv[0]).name} failed (exit {result.returncode}): "
            f"{words[-1] if words else 'no output'}"
        )
