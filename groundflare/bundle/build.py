"""`groundflare bundle`: freeze groundflare (PyInstaller, one folder) and put beside it the
pinned workerd, optionally the VM image and the app, their licences and a manifest.

Everything comes from PyPI (PyInstaller and groundflare's dependencies), the npm registry
(workerd) and Debian (the VM's kernel and busybox). The layout is groundflare/bundle/layout.py.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import json5

import groundflare
from groundflare.bundle import licences
from groundflare.bundle.layout import (
    APP,
    BIN,
    LICENSES,
    MANIFEST,
    VM,
    AppEntry,
    Manifest,
    frozen,
)
from groundflare.native_tools import WORKERD, ToolNotFound, install, npm_platform, tools_cache

Progress = Callable[[str], None]
ENTRY_SCRIPT = "from groundflare.bundle.entry import main\n\nmain()\n"
# Development tools that some dependency's hook would otherwise drag in.
EXCLUDED_MODULES = ("mypy", "pytest", "tkinter", "aiohttp", "PyInstaller")
TARGET_TRIPLES = {
    ("linux", "x64"): "x86_64-unknown-linux-gnu",
    ("linux", "arm64"): "aarch64-unknown-linux-gnu",
    ("darwin", "x64"): "x86_64-apple-darwin",
    ("darwin", "arm64"): "aarch64-apple-darwin",
    ("windows", "x64"): "x86_64-pc-windows-msvc",
    ("windows", "arm64"): "aarch64-pc-windows-msvc",
}


class BundleBuildError(Exception):
    """The bundle could not be built; the message names the step."""


@dataclass(frozen=True)
class App:
    """The app to embed: its wrangler config and its built Worker bundle."""

    config: Path
    worker_bundle: Path


def stderr_progress(message: str) -> None:
    print(f"[bundle] {message}", file=sys.stderr, flush=True)


def build_bundle(
    out: Path, with_vm: bool = False, app: App | None = None, progress: Progress = stderr_progress
) -> Manifest:
    """Build the bundle into `out` (absent or empty); its manifest."""
    if frozen():
        raise BundleBuildError("a bundle is built from a Python install of groundflare")
    if out.exists() and any(out.iterdir()):
        raise BundleBuildError(f"{out} is not empty")
    try:
        import PyInstaller  # noqa: F401
    except ImportError as exc:
        raise BundleBuildError("PyInstaller is missing: pip install 'groundflare[bundle]'") from exc
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="groundflare-bundle-") as tmp:
        _freeze(Path(tmp), out, progress)
    system, arch = npm_platform()
    components = {"workerd": _workerd(out, progress)}
    shipped = licences.python_licences(out / LICENSES)
    shipped.append(licences.npm_licence(out / LICENSES, "workerd", _workerd_package()))
    if with_vm:
        components["vm"], vm_licences = _vm(out, progress)
        shipped += vm_licences
    licences.write_index(out / LICENSES, shipped)
    entry = _app(out, app) if app is not None else None
    manifest = Manifest(
        groundflare=_version(),
        platform=f"{system}-{arch}",
        target_triple=TARGET_TRIPLES[(system, arch)],
        python=platform.python_version(),
        frozen_with=f"pyinstaller {metadata.version('pyinstaller')} (one folder)",
        components=components,
        app=entry,
        files=file_hashes(out),
    )
    (out / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    progress(f"done: {out} ({folder_bytes(out) / 1e6:.0f} MB)")
    return manifest


def _version() -> str:
    return metadata.version("groundflare")


def _freeze(work: Path, out: Path, progress: Progress) -> None:
    """PyInstaller, one folder: the executable and `_internal/` (its Python and libraries)."""
    progress("freezing groundflare with PyInstaller (one folder)")
    entry = work / "groundflare_entry.py"
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    # The folder holding the groundflare package: its linked subpackages are found there
    # whether groundflare is installed from a wheel or in editable mode.
    source_root = Path(groundflare.__file__).resolve().parent.parent
    argv = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--onedir",
        "--name",
        "groundflare",
        "--distpath",
        str(work / "dist"),
        "--workpath",
        str(work / "build"),
        "--specpath",
        str(work),
        "--paths",
        str(source_root),
        "--collect-submodules",
        "groundflare",
        "--collect-data",
        "groundflare",
        "--copy-metadata",
        "groundflare",
        "--log-level",
        "WARN",
        *[arg for name in EXCLUDED_MODULES for arg in ("--exclude-module", name)],
        str(entry),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=work)
    if result.returncode != 0:
        words = result.stderr.strip().splitlines()
        raise BundleBuildError(f"PyInstaller failed: {words[-1] if words else 'no output'}")
    shutil.copytree(work / "dist" / "groundflare", out, symlinks=True, dirs_exist_ok=True)


def _workerd_package() -> Path:
    return WORKERD.folder(tools_cache()) / "package"


def _workerd(out: Path, progress: Progress) -> dict[str, str]:
    """The pinned workerd from its npm package (downloaded into the cache if need be), never
    one from $GROUNDFLARE_WORKERD or PATH."""
    try:
        install(progress=progress)
    except (ToolNotFound, OSError) as exc:
        raise BundleBuildError(str(exc)) from exc
    source = WORKERD.installed_path(tools_cache())
    (out / BIN).mkdir(exist_ok=True)
    shutil.copy2(source, out / BIN / source.name)
    integrity = (WORKERD.folder(tools_cache()) / "npm-integrity").read_text().strip()
    return {"package": WORKERD.package(), "version": WORKERD.version, "integrity": integrity}


def _vm(out: Path, progress: Progress) -> tuple[dict[str, str], list[licences.Shipped]]:
    """The reference sandbox's image (built or from the cache), and the licences of the
    Debian packages it is made of."""
    from groundflare.vm import BuildError, build_image, default_cache
    from groundflare.vm.image import debs
    from groundflare.vm.reference_sandbox import build_reference_sandbox

    cache = default_cache()
    try:
        image = build_image(build_reference_sandbox(cache), cache, progress=progress)
        fetched = debs.fetch(cache / "debs")
    except (BuildError, debs.FetchError) as exc:
        raise BundleBuildError(f"the VM image: {exc}") from exc
    (out / VM).mkdir()
    for path in (image.kernel, image.initrd, image.dir / "image.json"):
        shutil.copyfile(path, out / VM / path.name)
    shipped = [
        licences.deb_licence(out / LICENSES, deb.path, deb.package, deb.version)
        for deb in (fetched.kernel, fetched.busybox)
    ]
    sandbox = licences.Shipped("reference sandbox (vm/sandbox/sandbox.c)", "", "Apache-2.0", ())
    shipped.append(sandbox)
    fields = ("kernel_package", "kernel_version", "busybox_version", "initrd_sha256")
    return {"key": image.key, **{f: str(image.manifest[f]) for f in fields}}, shipped


def _app(out: Path, app: App) -> AppEntry:
    """The app's config, and its Worker bundle where the config's `main` points (the loader
    checks that file exists), in DIR/app/ for `serve` without -c."""
    for path in (app.config, app.worker_bundle):
        if not path.is_file():
            raise BundleBuildError(f"{path}: no such file")
    main = _main_of(app.config)
    folder = out / APP
    (folder / main).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(app.config, folder / app.config.name)
    shutil.copyfile(app.worker_bundle, folder / main)
    return AppEntry(config=app.config.name, worker_bundle=main.as_posix())


def _main_of(config: Path) -> Path:
    text = config.read_text(encoding="utf-8")
    data = tomllib.loads(text) if config.suffix == ".toml" else json5.loads(text)
    main = data.get("main") if isinstance(data, dict) else None
    if not isinstance(main, str):
        raise BundleBuildError(f"{config}: no `main` to put the Worker bundle at")
    path = Path(main)
    if path.is_absolute() or ".." in path.parts:
        raise BundleBuildError(f"{config}: main {main!r} must be a path inside the project")
    return path


def file_hashes(root: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != MANIFEST:
            hashes[path.relative_to(root).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return hashes


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
