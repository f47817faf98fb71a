"""What a sidecar bundle holds and where: read by the frozen executable at run time, written
by groundflare/bundle/build.py.

    DIR/groundflare            the frozen CLI (PyInstaller one-folder; `groundflare.exe`)
    DIR/_internal/             its Python runtime and libraries
    DIR/bin/workerd            the pinned workerd
    DIR/vm/                    the VM kernel and initramfs (--with-vm)
    DIR/app/                   the app's wrangler config and Worker bundle (--worker-bundle)
    DIR/licenses/              the licence of everything shipped
    DIR/manifest.json          versions and sha256 of every file
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pydantic

MANIFEST = "manifest.json"
BIN = "bin"
VM = "vm"
APP = "app"
LICENSES = "licenses"


class AppEntry(pydantic.BaseModel):
    """The app embedded at bundle time: serve runs it when no -c is given."""

    config: str  # relative to DIR/app/
    worker_bundle: str


class Manifest(pydantic.BaseModel):
    groundflare: str
    platform: str  # npm's naming, e.g. linux-x64
    target_triple: str  # Rust's, for tauri.conf.json's externalBin suffix
    python: str
    frozen_with: str
    components: dict[str, dict[str, str]]
    app: AppEntry | None = None
    files: dict[str, str]  # relative path -> sha256


@dataclass(frozen=True)
class Installed:
    """The bundle this process runs from."""

    root: Path
    manifest: Manifest

    def tool(self, name: str) -> Path | None:
        exe = f"{name}.exe" if sys.platform == "win32" else name
        path = self.root / BIN / exe
        return path if path.is_file() else None

    @property
    def vm_image(self) -> Path | None:
        folder = self.root / VM
        return folder if (folder / "image.json").is_file() else None

    def app(self) -> tuple[Path, Path] | None:
        """The embedded (wrangler config, Worker bundle), if the bundle has them."""
        entry = self.manifest.app
        if entry is None:
            return None
        return self.root / APP / entry.config, self.root / APP / entry.worker_bundle


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def installed() -> Installed | None:
    """The bundle around the running executable; None outside one (a wheel, a checkout)."""
    if not frozen():
        return None
    root = Path(sys.executable).resolve().parent
    manifest = root / MANIFEST
    if not manifest.is_file():
        return None
    return Installed(root, Manifest.model_validate_json(manifest.read_bytes()))
