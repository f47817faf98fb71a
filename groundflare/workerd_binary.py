"""Finding (and installing) the native workerd binary.

workerd ships on npm as one package per platform holding a native executable;
we use that executable directly, so no Node.js is needed at run time.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

WORKERD_VERSION = "1.20261117.1"
ENV_OVERRIDE = "GROUNDFLARE_WORKERD"
REPO_ROOT = Path(__file__).resolve().parent.parent
REPO_INSTALL_DIR = REPO_ROOT / ".workerd"


class WorkerdNotFound(RuntimeError):
    """No usable workerd binary; the message says how to get one."""


@dataclass(frozen=True)
class Workerd:
    path: Path
    max_compat_date: date


def npm_package() -> str:
    """The npm package carrying workerd for this platform."""
    system = sys.platform
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "64"
    if system.startswith("linux"):
        return f"@cloudflare/workerd-linux-{arch}"
    if system == "darwin":
        return f"@cloudflare/workerd-darwin-{arch}"
    if system == "win32":
        return "@cloudflare/workerd-windows-64"
    raise WorkerdNotFound(f"workerd is not published for platform {system}/{machine}")


def installed_path(install_dir: Path) -> Path:
    exe = "workerd.exe" if sys.platform == "win32" else "workerd"
    return install_dir / "node_modules" / npm_package() / "bin" / exe


def _candidates() -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        found.append((f"${ENV_OVERRIDE}", Path(override)))
    found.append(("the repository's .workerd/", installed_path(REPO_INSTALL_DIR)))
    on_path = shutil.which("workerd")
    if on_path:
        found.append(("PATH", Path(on_path)))
    return found


def version_of(path: Path) -> date:
    """The newest compatibility date the binary supports (`workerd --version`)."""
    out = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(r"(\d{4}-\d{2}-\d{2})", out)
    if not match:
        raise WorkerdNotFound(f"{path} --version printed {out.strip()!r}, not a workerd version")
    return date.fromisoformat(match.group(1))


def find_workerd() -> Workerd:
    """Locate workerd: $GROUNDFLARE_WORKERD, then the repo's .workerd/, then PATH."""
    for origin, path in _candidates():
        if path.is_file() and os.access(path, os.X_OK):
            try:
                return Workerd(path=path, max_compat_date=version_of(path))
            except (OSError, subprocess.SubprocessError) as exc:
                raise WorkerdNotFound(
                    f"workerd from {origin} ({path}) does not run: {exc}"
                ) from exc
        if origin.startswith("$"):
            raise WorkerdNotFound(f"${ENV_OVERRIDE} points at {path}, which is not an executable")
    raise WorkerdNotFound(
        "workerd not found: run `make setup` (or `groundflare workerd install`), "
        f"set ${ENV_OVERRIDE} to a workerd binary, or put workerd on PATH"
    )


def install(install_dir: Path = REPO_INSTALL_DIR, version: str = WORKERD_VERSION) -> Path:
    """Install the pinned workerd from the npm registry; a no-op when it is already there."""
    target = installed_path(install_dir)
    manifest = target.parent.parent / "package.json"
    if target.is_file() and f'"version": "{version}"' in manifest.read_text(encoding="utf-8"):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise WorkerdNotFound("npm is needed once to download workerd; install Node.js/npm")
    install_dir.mkdir(parents=True, exist_ok=True)
    print(f"[workerd] installing {npm_package()}@{version} into {install_dir}", file=sys.stderr)
    subprocess.run(
        [
            npm,
            "install",
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(install_dir),
            f"{npm_package()}@{version}",
        ],
        check=True,
    )
    if not target.is_file():
        raise WorkerdNotFound(f"npm finished but {target} is missing")
    print(
        f"[workerd] {target} supports compatibility dates up to {version_of(target)}",
        file=sys.stderr,
    )
    return target
