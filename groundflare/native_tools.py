"""Native binaries from the npm registry: workerd and esbuild.

Both ship as one npm package per platform holding a native executable; we use the executable
directly, so neither Node.js nor npm is needed: the package's tarball is downloaded from the
registry over HTTPS, checked against the registry's sha512 integrity, and unpacked into the
user cache dir (`groundflare tools install`, or on first use). Where a binary comes from, in
order: `$GROUNDFLARE_WORKERD` / `$GROUNDFLARE_ESBUILD`, the sidecar bundle's own `bin/`,
the cache, PATH, then a download.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, cast

import platformdirs

from groundflare.bundle.layout import installed as installed_bundle
from groundflare.contracts.host import holding
from groundflare.paths import APP_NAME

if TYPE_CHECKING:
    from http.client import HTTPResponse

REGISTRY_ENV = "GROUNDFLARE_NPM_REGISTRY"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
DOWNLOAD_TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 20

Progress = Callable[[str], None]


class ToolNotFound(RuntimeError):
    """No usable binary; the message says how to get one."""


def npm_platform() -> tuple[str, str]:
    """(os, cpu) as npm names them: linux/darwin/windows, x64/arm64."""
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "x64"
    if sys.platform.startswith("linux"):
        return "linux", arch
    if sys.platform == "darwin":
        return "darwin", arch
    if sys.platform == "win32":
        return "windows", arch
    raise ToolNotFound(f"no native tools are published for {sys.platform}/{machine}")


def tools_cache() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "tools"


def stderr_progress(message: str) -> None:
    print(f"[tools] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class NativeTool:
    name: str
    version: str
    env_override: str

    def package(self) -> str:
        system, arch = npm_platform()
        if self.name == "workerd":
            return f"@cloudflare/workerd-{system}-{'64' if arch == 'x64' else arch}"
        return f"@esbuild/{'win32' if system == 'windows' else system}-{arch}"

    def folder(self, cache: Path) -> Path:
        """The unpacked package: one folder per package and version."""
        return cache / f"{self.package().replace('/', '+')}@{self.version}"

    def installed_path(self, cache: Path) -> Path:
        exe = f"{self.name}.exe" if sys.platform == "win32" else self.name
        return self.folder(cache) / "package" / "bin" / exe

    def installed(self, cache: Path) -> bool:
        return self.installed_path(cache).is_file()

    def locate(self, fetch_missing: bool = True) -> Path:
        """$GROUNDFLARE_<TOOL>, the bundle's bin/, the cache, PATH, then a download."""
        override = os.environ.get(self.env_override)
        if override:
            path = Path(override)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ToolNotFound(
                    f"${self.env_override} points at {path}, which is not an executable"
                )
            return path
        bundle = installed_bundle()
        shipped = bundle.tool(self.name) if bundle is not None else None
        if shipped is not None:
            return shipped
        cache = tools_cache()
        if self.installed(cache):
            return self.installed_path(cache)
        on_path = shutil.which(self.name)
        if on_path:
            return Path(on_path)
        if not fetch_missing:
            raise ToolNotFound(f"{self.name} {self.version} is not installed")
        return fetch(self, cache)


WORKERD = NativeTool("workerd", "1.20261201.1", "GROUNDFLARE_WORKERD")
ESBUILD = NativeTool("esbuild", "0.28.1", "GROUNDFLARE_ESBUILD")
TOOLS = (WORKERD, ESBUILD)


@dataclass(frozen=True)
class Dist:
    """What the registry says about one package version: where its tarball is, its hash."""

    tarball: str
    integrity: str  # "sha512-<base64>"
    license: str

    def check(self, digest: bytes) -> None:
        algorithm, _, expected = self.integrity.partition("-")
        if algorithm != "sha512" or base64.b64decode(expected) != digest:
            raise ToolNotFound(
                f"the downloaded tarball does not match the registry's {algorithm} integrity "
                "value: not installed (a proxy or mirror changed it?)"
            )


def registry() -> str:
    return os.environ.get(REGISTRY_ENV, DEFAULT_REGISTRY).rstrip("/")


def _get(url: str) -> HTTPResponse:
    # Imported here: every start locates the tools, few download them (cold start).
    import urllib.error
    import urllib.request

    try:
        return cast("HTTPResponse", urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ToolNotFound(
            f"cannot reach the npm registry ({url}: {reason}); set ${REGISTRY_ENV} to a mirror, "
            "or point $GROUNDFLARE_WORKERD / $GROUNDFLARE_ESBUILD at the binaries"
        ) from exc


def package_dist(tool: NativeTool) -> Dist:
    package = urllib.parse.quote(tool.package(), safe="@")
    with _get(f"{registry()}/{package}/{tool.version}") as response:
        meta = json.load(response)
    dist = meta.get("dist", {})
    if "integrity" not in dist or "tarball" not in dist:
        raise ToolNotFound(f"the registry gave no tarball and integrity for {tool.package()}")
    return Dist(dist["tarball"], dist["integrity"], str(meta.get("license", "unknown")))


def fetch(tool: NativeTool, cache: Path, progress: Progress = stderr_progress) -> Path:
    """Download, verify and unpack one tool into the cache; its executable. One process at a
    time: another that was downloading the same tool meanwhile leaves it installed."""
    with holding(cache / ".lock"):
        if tool.installed(cache):
            return tool.installed_path(cache)
        return _fetch(tool, cache, progress)


def _fetch(tool: NativeTool, cache: Path, progress: Progress) -> Path:
    dist = package_dist(tool)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "package.tgz"
        _download(dist, archive, f"{tool.package()}@{tool.version}", progress)
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        (unpacked / "npm-integrity").write_text(dist.integrity + "\n", encoding="ascii")
        target = tool.folder(cache)
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    path = tool.installed_path(cache)
    if not path.is_file():
        raise ToolNotFound(f"{tool.package()}@{tool.version} holds no {path.name} binary")
    path.chmod(0o755)
    progress(f"{tool.name} {tool.version}: {path}")
    return path


def _download(dist: Dist, dest: Path, what: str, progress: Progress) -> None:
    digest = hashlib.sha512()
    with _get(dist.tarball) as response, dest.open("wb") as out:
        total = int(response.headers.get("content-length") or 0)
        size = f" ({total / 1e6:.1f} MB)" if total else ""
        progress(f"downloading {what}{size} from {urllib.parse.urlsplit(dist.tarball).netloc}")
        done, shown = 0, 0
        while chunk := response.read(CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
            done += len(chunk)
            if total and done * 4 // total > shown:
                shown = done * 4 // total
                progress(f"  {what}: {done * 100 // total}%")
    dist.check(digest.digest())


def install(cache: Path | None = None, progress: Progress = stderr_progress) -> list[Path]:
    """Every pinned tool in the cache; a no-op for those already there."""
    cache = cache or tools_cache()
    return [
        tool.installed_path(cache) if tool.installed(cache) else fetch(tool, cache, progress)
        for tool in TOOLS
    ]


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
