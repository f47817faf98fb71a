"""The dev-tools image's root file system: a Debian tree from packages, packed as EROFS.

build-rootfs.sh (beside this file) does the apt, mmdebstrap and mkfs.erofs steps; here the
inputs are named and hashed, the result cached, and the build's progress relayed. The inputs are the
exact package versions apt resolves for the list (against this host's package lists, which
the build uses too) and the build script itself: the same inputs give the same bytes, so
their hash names the result. Resolving costs apt seconds, so it is cached by the package
list and the lists' identity.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().parent / "build-rootfs.sh"
APT_LISTS = Path("/var/lib/apt/lists")
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
# Every file's time in the image (and SOURCE_DATE_EPOCH for the packages' scripts): the day
# Debian 12 was released.
EPOCH = 1686355200
ROOTFS_FILE = "rootfs.erofs"
MANIFEST = "rootfs.json"
KEEP = 3

Progress = Callable[[str], None]


class RootfsError(Exception):
    """The root file system could not be resolved or built; the message says why."""


@dataclass(frozen=True)
class Rootfs:
    key: str
    path: Path
    manifest: dict[str, object]


def _lists_identity() -> str:
    """Which package lists and sources apt would read: names, sizes, times."""
    found = []
    for folder in (APT_LISTS, *APT_SOURCES):
        paths = sorted(folder.iterdir()) if folder.is_dir() else [folder]
        for path in paths:
            if path.is_file():
                stat = path.stat()
                found.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(found).encode()).hexdigest()


def _run(argv: Sequence[str], progress: Progress | None = None) -> str:
    """The script's stdout; its stderr is relayed as progress (or kept for the error)."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    assert process.stderr is not None and process.stdout is not None
    said: list[str] = []
    for line in process.stderr:
        said.append(line.rstrip())
        if progress is not None and line.strip():
            progress(line.rstrip())
    out = process.stdout.read()
    if process.wait() != 0:
        raise RootfsError(f"{Path(argv[1]).name} {argv[2]} failed: {' / '.join(said[-3:])}")
    return out


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


def resolve(packages: Sequence[str], cache: Path) -> list[str]:
    """NAME=VERSION of every package the tree would hold, from the cache when the package
    lists have not changed."""
    digest = hashlib.sha256(json.dumps([sorted(packages), _lists_identity()]).encode()).hexdigest()
    saved = cache / "resolved" / f"{digest[:24]}.txt"
    if saved.is_file():
        return saved.read_text(encoding="utf-8").split()
    versions = _run(["sh", str(BUILD_SCRIPT), "resolve", *sorted(packages)]).split()
    if not versions:
        raise RootfsError(f"apt resolved nothing for {' '.join(packages)}")
    saved.parent.mkdir(parents=True, exist_ok=True)
    tmp = saved.with_name(f".{saved.name}.{os.getpid()}")
    tmp.write_text("\n".join(versions) + "\n", encoding="utf-8")
    tmp.replace(saved)
    return versions


def input_key(packages: Sequence[str], versions: Sequence[str]) -> str:
    parts = {
        "script": hashlib.sha256(BUILD_SCRIPT.read_bytes()).hexdigest(),
        "packages": sorted(packages),
        "versions": list(versions),
        "epoch": EPOCH,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def build(packages: Sequence[str], cache: Path, progress: Progress) -> Rootfs:
    """The root file system for these packages: from the cache, or built (~1-2 min)."""
    if not BUILD_SCRIPT.is_file():
        raise RootfsError(f"{BUILD_SCRIPT} is missing: reinstall groundflare")
    progress(f"resolving {len(packages)} packages against apt's lists")
    versions = resolve(packages, cache / "rootfs")
    key = input_key(packages, versions)
    folder = cache / "rootfs" / key[:16]
    if (folder / MANIFEST).is_file():
        os.utime(folder)
        return _load(folder)
    progress(
        f"building the root file system {key[:16]}: {len(versions)} packages "
        "(mmdebstrap, then mkfs.erofs; a minute or two)"
    )
    work = folder.with_name(f".{folder.name}.{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    try:
        installed = _run(
            [
                "sh", str(BUILD_SCRIPT), "build", str(work / ROOTFS_FILE),
                str(cache / "debs-rootfs"), str(EPOCH), *sorted(packages),
            ],
            progress,
        ).split()  # fmt: skip
        image = work / ROOTFS_FILE
        manifest: dict[str, object] = {
            "key": key,
            "packages": sorted(packages),
            "installed": installed,
            "bytes": image.stat().st_size,
            "sha256": _sha256(image),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        image.chmod(0o644)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _prune(cache / "rootfs")
    tree = _load(folder)
    progress(
        f"root file system {key[:16]}: {tree.path.stat().st_size / 1e6:.0f} MB in "
        f"{tree.manifest['build_seconds']} s"
    )
    return tree


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _load(folder: Path) -> Rootfs:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return Rootfs(str(manifest["key"]), folder / ROOTFS_FILE, manifest)


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently used trees (each a few hundred MB); images that still
    hard-link an older one keep its bytes."""
    found = sorted(
        (p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST).is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in found[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
