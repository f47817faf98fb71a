"""The guest image: `build(sandbox, cache) -> Image`, cached by the hash of its inputs.

Two kinds. `minimal`: the kernel and a busybox initramfs that starts the sandbox. `dev-tools`:
the same initramfs (with the disk and overlay modules) plus a Debian root file system of the
profile's packages (vm/image/rootfs.py), read-only EROFS, that init switches to.

Inputs: the kernel and busybox-static .debs (fetched with apt by fetch-debs.sh),
the sandbox (a binary or a folder), gf-guest, this recipe's own source (vm/image/*.py,
vm/config/*) and, for dev-tools, the root file system's key. The same inputs give the same
bytes (vm/image/cpio.py, the EROFS build), so the hash names the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from groundflare.contracts.host import holding
from groundflare.vm.image import cpio, debs, kernel, modules, recipe, rootfs, tools

Progress = Callable[[str], None]
MANIFEST = "image.json"
KERNEL_FILE = "vmlinux"
INITRD_FILE = "initramfs.cpio.gz"
ROOTFS_FILE = rootfs.ROOTFS_FILE
KEEP_IMAGES = 8
# What the kernel layer cache holds: bump when its layout changes.
KERNEL_LAYER = "v2"


class BuildError(Exception):
    """The image could not be built; the message names the step."""


@dataclass(frozen=True)
class Image:
    """A built image: an ELF kernel with a PVH note, a gzip'd newc initramfs, and for the
    dev-tools kind a read-only EROFS root file system."""

    key: str
    dir: Path
    manifest: dict[str, object]

    @property
    def kernel(self) -> Path:
        return self.dir / KERNEL_FILE

    @property
    def initrd(self) -> Path:
        return self.dir / INITRD_FILE

    @property
    def rootfs(self) -> Path | None:
        path = self.dir / ROOTFS_FILE
        return path if self.manifest.get("kind") == "dev-tools" else None

    @property
    def command(self) -> str:
        """The sandbox's executable under /opt/sandbox."""
        return str(self.manifest.get("command", "sandbox"))

    @classmethod
    def load(cls, folder: Path) -> Image:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return cls(key=str(manifest["key"]), dir=folder, manifest=manifest)


def stderr_progress(message: str) -> None:
    print(f"[vm build] {message}", file=sys.stderr, flush=True)


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


def sandbox_digest(files: Sequence[recipe.SandboxFile]) -> str:
    digest = hashlib.sha256()
    for item in files:
        digest.update(f"{item.path}\0{item.mode:o}\0{len(item.data)}\0".encode() + item.data)
    return digest.hexdigest()


def build(
    sandbox: Path,
    cache: Path,
    progress: Progress = stderr_progress,
    packages: Sequence[str] | None = None,
    command: str | None = None,
) -> Image:
    """The image for these inputs: from the cache, or built (and then cached).

    `packages`: the dev-tools image with these Debian packages; None: the minimal image.
    `command`: for a sandbox folder, its executable (relative to the folder)."""
    if not (sandbox.is_file() or sandbox.is_dir()):
        raise BuildError(f"sandbox {sandbox} does not exist")
    if sandbox.is_dir() and not command:
        raise BuildError(f"sandbox {sandbox} is a folder: name its executable (`command`)")
    if sandbox.is_dir() and not (sandbox / str(command)).is_file():
        raise BuildError(f"sandbox folder {sandbox} has no file {command}")
    with holding(cache / ".lock"):
        progress("fetching the kernel and busybox-static packages (apt)")
        try:
            fetched = debs.fetch(cache / "debs")
            guest_tool = tools.guest_tool(cache)
            files = recipe.sandbox_files(sandbox)
            tree = rootfs.build(packages, cache, progress) if packages is not None else None
        except (debs.FetchError, tools.ToolBuildError, rootfs.RootfsError, ValueError) as exc:
            raise BuildError(str(exc)) from exc
        roots = modules.DEVTOOLS_ROOTS if tree is not None else modules.ROOTS
        parts = {
            "recipe": recipe_digest(),
            "kernel": fetched.kernel.sha256(),
            "busybox": fetched.busybox.sha256(),
            "guest_tool": hashlib.sha256(guest_tool.read_bytes()).hexdigest(),
            "sandbox": sandbox_digest(files),
            "command": command if sandbox.is_dir() else "sandbox",
            "roots": list(roots),
            "rootfs": tree.key if tree is not None else None,
        }
        key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        folder = cache / "images" / key[:16]
        if (folder / MANIFEST).is_file():
            progress(f"cached: {folder}")
            os.utime(folder)  # recently used: pruning keeps it
            return Image.load(folder)
        kind = "dev-tools" if tree is not None else "minimal"
        progress(f"building the {kind} image {key[:16]} ({fetched.kernel.package})")
        work = cache / "work" / f"{key[:16]}.{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            layer = _kernel_layer(cache, fetched.kernel, work, progress)
            busybox, applets = _busybox(fetched.busybox, work)
            contents = recipe.Contents(
                busybox=busybox,
                applets=applets,
                modules=tuple(
                    (name, (layer.dir / "modules" / f"{name}.ko").read_bytes())
                    for name in layer.order(roots)
                ),
                guest_tool=guest_tool.read_bytes(),
                sandbox=files,
                rootfs=tree is not None,
            )
            manifest: dict[str, object] = {
                "key": key,
                "kind": kind,
                "command": parts["command"],
                "kernel_package": fetched.kernel.package,
                "kernel_version": fetched.kernel.version,
                "kernel_release": layer.release,
                "busybox_version": fetched.busybox.version,
                "sandbox_sha256": parts["sandbox"],
            }
            out = work / "out"
            _pack(out, layer, contents, progress, manifest)
            if tree is not None:
                _link(tree.path, out / ROOTFS_FILE)
                manifest |= {
                    "rootfs_key": tree.key,
                    "rootfs_bytes": tree.manifest["bytes"],
                    "rootfs_build_seconds": tree.manifest["build_seconds"],
                    "packages": tree.manifest["packages"],
                    "installed": tree.manifest["installed"],
                }
            (out / MANIFEST).write_text(
                json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            out.chmod(0o755)
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            out.rename(folder)
        except (
            OSError,
            subprocess.CalledProcessError,
            kernel.KernelError,
            debs.FetchError,
            KeyError,
            ValueError,
        ) as exc:
            raise BuildError(f"building the image failed: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress(f"done: {folder} ({_size_text(folder)})")
        _prune(cache / "images", keep=KEEP_IMAGES)
        return Image.load(folder)


def _size_text(folder: Path) -> str:
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.name != MANIFEST}
    return ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(sizes.items()))


def _link(source: Path, target: Path) -> None:
    """One copy on disk (and in the page cache) for every image sharing a kernel or tree."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _prune(folder: Path, keep: int) -> None:
    """Drop all but the `keep` most recently used images (each ~2 MB plus shared layers)."""
    found = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class KernelLayer:
    """What the images take from one kernel package, kept apart from the 400 MB unpacked
    tree: vmlinux, and the modules any image kind loads with their dependencies."""

    dir: Path
    release: str
    deps: dict[str, tuple[str, list[str]]]  # modules.dep, restricted to what is kept

    @property
    def vmlinux(self) -> Path:
        return self.dir / KERNEL_FILE

    def order(self, roots: tuple[str, ...]) -> list[str]:
        return [modules.module_name(path) for path in modules.load_order(self.deps, roots)]


def _kernel_layer(cache: Path, deb: debs.Deb, work: Path, progress: Progress) -> KernelLayer:
    """vmlinux and the modules of one kernel .deb, cached by the .deb's hash.

    A new sandbox then re-packs the initramfs only (about a second), not the kernel."""
    folder = cache / "kernels" / f"{deb.sha256()[:16]}-{KERNEL_LAYER}"
    index = folder / "modules.json"
    if not index.is_file():
        progress(f"unpacking {deb.path.name} (dpkg-deb -x, not installed)")
        tree = work / "kernel"
        debs.unpack(deb, tree)
        mod_dir = modules.modules_dir(tree)
        progress(f"depmod for {mod_dir.name}; resolving module order from modules.dep")
        debs.depmod(tree, mod_dir.name)
        table = modules.parse_modules_dep((mod_dir / "modules.dep").read_text())
        kept = modules.load_order(table, modules.DEVTOOLS_ROOTS)
        progress("extracting the PVH vmlinux from the bzImage")
        (bzimage,) = sorted((tree / "boot").glob("vmlinuz-*"))
        vmlinux = kernel.vmlinux_from(bzimage)
        staging = work / "kernel-layer"
        (staging / "modules").mkdir(parents=True)
        (staging / KERNEL_FILE).write_bytes(vmlinux)
        (staging / KERNEL_FILE).chmod(0o644)
        deps = {}
        for path in kept:
            name = modules.module_name(path)
            shutil.copyfile(mod_dir / path, staging / "modules" / f"{name}.ko")
            deps[name] = table[name]
        (staging / "modules.json").write_text(
            json.dumps({"release": mod_dir.name, "deps": deps}, indent=2) + "\n"
        )
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        shutil.rmtree(tree, ignore_errors=True)
    saved = json.loads(index.read_text())
    deps = {name: (path, list(needs)) for name, (path, needs) in saved["deps"].items()}
    return KernelLayer(folder, saved["release"], deps)


def _busybox(deb: debs.Deb, work: Path) -> tuple[bytes, tuple[str, ...]]:
    """busybox-static from its .deb, and the applets it has (one symlink each)."""
    debs.unpack(deb, work / "busybox")
    busybox = work / "busybox" / "bin" / "busybox"
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    return busybox.read_bytes(), tuple(sorted(applets))


def _pack(
    out: Path,
    layer: KernelLayer,
    contents: recipe.Contents,
    progress: Progress,
    manifest: dict[str, object],
) -> None:
    names = [name for name, _ in contents.modules]
    progress(f"packing the initramfs ({len(names)} modules: {' '.join(names)})")
    initrd = cpio.compress(cpio.archive(recipe.entries(contents)))
    out.mkdir(parents=True)
    _link(layer.vmlinux, out / KERNEL_FILE)
    (out / INITRD_FILE).write_bytes(initrd)
    for path in (out / KERNEL_FILE, out / INITRD_FILE):
        path.chmod(0o644)
    manifest |= {
        "modules": names,
        "vmlinux_bytes": layer.vmlinux.stat().st_size,
        "initrd_bytes": len(initrd),
        "initrd_sha256": hashlib.sha256(initrd).hexdigest(),
    }
