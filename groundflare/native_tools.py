"""Native binaries from the npm registry: workerd and esbuild.

Both ship as one npm package per platform holding a native executable; we use
the executable directly, so no Node.js is needed at run time. `make setup`
installs the pinned versions into the repository's git-ignored `.workerd/`;
`$GROUNDFLARE_WORKERD` / `$GROUNDFLARE_ESBUILD` or PATH may point elsewhere.
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

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_DIR = REPO_ROOT / ".workerd"


class ToolNotFound(RuntimeError):
    """No usable binary; the message says how to get one."""


def _platform() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "x64"
    if sys.platform.startswith("linux"):
        return "linux", arch
    if sys.platform == "darwin":
        return "darwin", arch
    if sys.platform == "win32":
        return "windows", arch
    raise ToolNotFound(f"no native tools are published for {sys.platform}/{machine}")


@dataclass(frozen=True)
class NativeTool:
    name: str
    version: str
    env_override: str

    def package(self) -> str:
        system, arch = _platform()
        if self.name == "workerd":
            return f"@cloudflare/workerd-{system}-{'64' if arch == 'x64' else arch}"
        return f"@esbuild/{'win32' if system == 'windows' else system}-{arch}"

    def installed_path(self, install_dir: Path = INSTALL_DIR) -> Path:
        exe = f"{self.name}.exe" if sys.platform == "win32" else self.name
        return install_dir / "node_modules" / self.package() / "bin" / exe

    def locate(self) -> Path:
        """$GROUNDFLARE_<TOOL>, then the repository's .workerd/, then PATH."""
        override = os.environ.get(self.env_override)
        if override:
            path = Path(override)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ToolNotFound(
                    f"${self.env_override} points at {path}, which is not an executable"
                )
            return path
        installed = self.installed_path()
        if installed.is_file():
            return installed
        on_path = shutil.which(self.name)
        if on_path:
            return Path(on_path)
        raise ToolNotFound(
            f"{self.name} not found: run `make setup` (or `groundflare tools install`), "
            f"set ${self.env_override} to a {self.name} binary, or put {self.name} on PATH"
        )

    def installed(self, install_dir: Path = INSTALL_DIR) -> bool:
        target = self.installed_path(install_dir)
        manifest = target.parent.parent / "package.json"
        return target.is_file() and f'"version": "{self.version}"' in manifest.read_text("utf-8")


WORKERD = NativeTool("workerd", "1.20261117.1", "GROUNDFLARE_WORKERD")
ESBUILD = NativeTool("esbuild", "0.28.1", "GROUNDFLARE_ESBUILD")
TOOLS = (WORKERD, ESBUILD)


def install(install_dir: Path = INSTALL_DIR) -> list[Path]:
    """Install every pinned tool from the npm registry; a no-op when all are there.

    One npm call for all of them: npm removes packages a later `--no-save` install
    does not name.
    """
    if all(tool.installed(install_dir) for tool in TOOLS):
        return [tool.installed_path(install_dir) for tool in TOOLS]
    npm = shutil.which("npm")
    if npm is None:
        raise ToolNotFound("npm is needed once to download workerd and esbuild; install Node.js")
    install_dir.mkdir(parents=True, exist_ok=True)
    specs = [f"{tool.package()}@{tool.version}" for tool in TOOLS]
    print(f"[tools] installing {' '.join(specs)} into {install_dir}", file=sys.stderr)
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
            *specs,
        ],
        check=True,
    )
    missing = [tool.name for tool in TOOLS if not tool.installed(install_dir)]
    if missing:
        raise ToolNotFound(f"npm finished but {', '.join(missing)} is missing in {install_dir}")
    return [tool.installed_path(install_dir) for tool in TOOLS]


@dataclass(frozen=True)
class Workerd:
    path: Path
    max_compat_date: date


def find_workerd() -> Workerd:
    """workerd, with the newest compatibility date it supports (`workerd --version`)."""
    path = WORKERD.locate()
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolNotFound(f"workerd at {path} does not run: {exc}") from exc
    match = re.search(r"(\d{4}-\d{2}-\d{2})", out)
    if not match:
        raise ToolNotFound(f"{path} --version printed {out.strip()!r}, not a workerd version")
    return Workerd(path=path, max_compat_date=date.fromisoformat(match.group(1)))
