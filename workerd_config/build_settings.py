"""What a wrangler config says about building its Worker: `[build]` and the bundling fields.

Pure: the command itself runs in groundflare/build.py, before the loader looks for
`main` (a build usually writes it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from groundflare.workerd_config.model import BundleSettings
from groundflare.workerd_config.wrangler_schema import WorkerSettings, WranglerFile


class BuildCommand(BaseModel):
    """`[build] command`, run with a shell in `cwd` (the config's folder unless it names
    another, relative to it), as wrangler runs it; `watch_dirs` are what dev watches."""

    model_config = ConfigDict(frozen=True)
    command: str
    cwd: Path
    watch_dirs: list[Path]


def build_command(settings: WorkerSettings, path: Path) -> BuildCommand | None:
    build = settings.build
    if build is None or not build.command:
        return None
    folder = path.parent
    dirs = build.watch_dir if isinstance(build.watch_dir, list) else [build.watch_dir]
    return BuildCommand(
        command=build.command,
        cwd=(folder / build.cwd).resolve() if build.cwd else folder,
        watch_dirs=[(folder / d).resolve() for d in dirs],
    )


def watched_files(build: BuildCommand) -> list[Path]:
    """Every folder and file under the watch dirs: a reload polls their times, so an edit,
    a new file and a removed one all show (node_modules left out)."""
    found: list[Path] = []
    for folder in build.watch_dirs:
        if not folder.is_dir():
            continue
        found.append(folder)
        found += [p for p in sorted(folder.rglob("*")) if "node_modules" not in p.parts]
    return found


def bundle_settings(config: WranglerFile, settings: WorkerSettings, path: Path) -> BundleSettings:
    folder = path.parent
    return BundleSettings(
        enabled=not settings.no_bundle,
        minify=bool(settings.minify),
        define=settings.define or {},
        alias=config.alias or {},
        keep_names=settings.keep_names is not False,
        tsconfig=(folder / settings.tsconfig).resolve() if settings.tsconfig else None,
        jsx_factory=settings.jsx_factory,
        jsx_fragment=settings.jsx_fragment,
        rules=settings.rules or [],
        project_root=folder,
    )
