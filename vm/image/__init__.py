"""The guest image: `build(sandbox, cache) -> Image`, cached by the hash of its inputs.

Inputs: the kernel and busybox-static .debs (fetched with apt by fetch-debs.sh),
the sandbox binary, and this recipe's own source (vm/image/*.py, vm/config/*). The same
inputs give the same bytes (vm/image/cpio.py), so the hash names the result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from groundflare.contracts.host import lock
from groundflare.vm.image import cpio, debs, kernel, modules, recipe

Progress = Callable[[str], None]
MANIFEST = "image.json"
KERNEL_FILE = "vmlinux"
INITRD_FILE = "initramfs.cpio.gz"
KEEP_IMAGES = 8


class BuildError(Exception):
    """The image could not be built; the message names the step."""


@dataclass(frozen=True)
class Image:
    """A built image: an ELF kernel with a PVH note and a gzip'd newc initramfs."""

    key: str
    dir: Path
    manifest: dict[str, object]

    @property
    def kernel(self) -> Path:
        return self.dir / KERNEL_FILE

    @property
    def initrd(self) -> Path:
        return self.dir / INITRD_FILE

    @classmethod
    def load(cls, folder: Path) -> Image:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return cls(key=str(manifest["key"]), dir=folder, manifest=manifest)


def stderr_progress(message: str) -> None:
    print(f"[vm build] {message}", file=sys.stderr, flush=True)


def _sha256_file(path: Path) -> str:
    stat = path.stat()
    return debs.file_sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


def recipe_digest() -> str:
    """This recipe's own source: changing how images are made changes every key."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    sources = sorted(here.glob("*.py")) + sorted(
        p for p in (here.parent / "config").iterdir() if p.is_file() and p.suffix != ".pyc"
    )
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def input_key(fetched: debs.Debs, sandbox: Path) -> str:
    parts = {
        "recipe": recipe_digest(),
        "kernel": fetched.kernel.sha256(),
        "busybox": fetched.busybox.sha256(),
        "sandbox": _sha256_file(sandbox),
        "roots": list(modules.ROOTS),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One build at a time per cache (a test run and `groundflare vm build` may race)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as handle:
        lock(handle.fileno())
        yield


def build(sandbox: Path, cache: Path, progress: Progress = stderr_progress) -> Image:
    """The image for these inputs: from the cache, or built (and then cached)."""
    if not sandbox.is_file():
        raise BuildError(f"sandbox binary {sandbox} does not exist")
    with _locked(cache):
        progress("fetching the kernel and busybox-static packages (apt)")
        try:
            fetched = debs.fetch(cache / "debs")
        except debs.FetchError as exc:
            raise BuildError(str(exc)) from exc
        key = input_key(fetched, sandbox)
        folder = cache / "images" / key[:16]
        if (folder / MANIFEST).is_file():
            progress(f"cached: {folder}")
            os.utime(folder)  # recently used: pruning keeps it
            return Image.load(folder)
        progress(f"building image {key[:16]} ({fetched.kernel.package} {fetched.kernel.version})")
        work = cache / "work" / f"{key[:16]}.{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            parts = _kernel_parts(cache, fetched.kernel, work, progress)
            _pack(work / "out", work, parts, fetched, sandbox, key, progress)
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            (work / "out").rename(folder)
        except (
            OSError,
            subprocess.CalledProcessError,
            kernel.KernelError,
            KeyError,
            ValueError,
        ) as exc:
            raise BuildError(f"building the image failed: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress(f"done: {folder}")
        _prune(cache / "images", keep=KEEP_IMAGES)
        return Image.load(folder)


def _prune(folder: Path, keep: int) -> None:
    """Drop all but the `keep` most recently used images (each ~2 MB plus a shared kernel)."""
    found = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class KernelParts:
    """What the image takes from one kernel package, kept apart from the 400 MB unpacked tree."""

    dir: Path
    release: str
    modules: tuple[str, ...]  # names, in load order

    @property
    def vmlinux(self) -> Path:
        return self.dir / KERNEL_FILE


def _kernel_parts(cache: Path, deb: debs.Deb, work: Path, progress: Progress) -> KernelParts:
    """vmlinux and the ordered modules of one kernel .deb, cached by the .deb's hash.

    A new sandbox then re-packs the initramfs only (about a second), not the kernel."""
    folder = cache / "kernels" / deb.sha256()[:16]
    index = folder / "modules.json"
    if not index.is_file():
        progress(f"unpacking {deb.path.name} (dpkg-deb -x, not installed)")
        tree = work / "kernel"
        debs.unpack(deb, tree)
        mod_dir = modules.modules_dir(tree)
        progress(f"depmod for {mod_dir.name}; resolving module order from modules.dep")
        debs.depmod(tree, mod_dir.name)
        order = modules.load_order(modules.parse_modules_dep((mod_dir / "modules.dep").read_text()))
        progress("extracting the PVH vmlinux from the bzImage")
        (bzimage,) = sorted((tree / "boot").glob("vmlinuz-*"))
        vmlinux = kernel.vmlinux_from(bzimage)
        staging = work / "kernel-parts"
        (staging / "modules").mkdir(parents=True)
        (staging / KERNEL_FILE).write_bytes(vmlinux)
        (staging / KERNEL_FILE).chmod(0o644)
        names = [modules.module_name(path) for path in order]
        for name, path in zip(names, order, strict=True):
            shutil.copyfile(mod_dir / path, staging / "modules" / f"{name}.ko")
        (staging / "modules.json").write_text(
            json.dumps({"release": mod_dir.name, "modules": names}, indent=2) + "\n"
        )
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        shutil.rmtree(tree, ignore_errors=True)
    saved = json.loads(index.read_text())
    return KernelParts(folder, saved["release"], tuple(saved["modules"]))


def _pack(
    out: Path,
    work: Path,
    parts: KernelParts,
    fetched: debs.Debs,
    sandbox: Path,
    key: str,
    progress: Progress,
) -> None:
    debs.unpack(fetched.busybox, work / "busybox")
    busybox = work / "busybox" / "bin" / "busybox"
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    contents = recipe.Contents(
        busybox=busybox.read_bytes(),
        applets=tuple(sorted(applets)),
        modules=tuple(
            (name, (parts.dir / "modules" / f"{name}.ko").read_bytes()) for name in parts.modules
        ),
        init=recipe.init_script(),
        sandbox=sandbox.read_bytes(),
    )
    progress(f"packing the initramfs ({len(parts.modules)} modules: {' '.join(parts.modules)})")
    initrd = cpio.compress(cpio.archive(recipe.entries(contents)))
    out.mkdir(parents=True)
    try:  # one vmlinux on disk (and in the page cache) for every image of this kernel
        os.link(parts.vmlinux, out / KERNEL_FILE)
    except OSError:
        shutil.copyfile(parts.vmlinux, out / KERNEL_FILE)
    (out / INITRD_FILE).write_bytes(initrd)
    for path in (out / KERNEL_FILE, out / INITRD_FILE):
        path.chmod(0o644)
    manifest = {
        "key": key,
        "kernel_package": fetched.kernel.package,
        "kernel_version": fetched.kernel.version,
        "kernel_release": parts.release,
        "busybox_version": fetched.busybox.version,
        "modules": list(parts.modules),
        "sandbox_sha256": _sha256_file(sandbox),
        "vmlinux_bytes": parts.vmlinux.stat().st_size,
        "initrd_bytes": len(initrd),
        "initrd_sha256": hashlib.sha256(initrd).hexdigest(),
    }
    (out / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    out.chmod(0o755)
