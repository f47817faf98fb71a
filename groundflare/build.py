"""From loaded configs to runnable Workers: `[build] command`, then bundle what needs
bundling, or use a given bundle."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from groundflare.bundler import BundleError, bundle, needs_bundle
from groundflare.contracts.names import file_part
from groundflare.native_tools import ESBUILD, ToolNotFound
from groundflare.paths import private_files
from groundflare.workerd_config.build_settings import BuildCommand
from groundflare.workerd_config.drift import SOURCE_SUFFIXES
from groundflare.workerd_config.model import Module, VersionMetadataBinding, Worker
from groundflare.workerd_config.module_rules import collect_modules
from groundflare.workerd_config.stack_loader import LoadedStack

log = logging.getLogger("groundflare")
LAST_LINES = 10


class BuildFailed(Exception):
    """A `[build] command` exited non-zero; the message has its exit code and last lines."""


@dataclass(frozen=True)
class BundleChoice:
    """`--no-bundle`, or `--bundle PATH` (a prebuilt bundle, e.g. from a production build),
    and `--define`s over the configs' own."""

    disabled: bool = False
    prebuilt: Path | None = None
    define: dict[str, str] = field(default_factory=dict)


def parse_defines(values: tuple[str, ...]) -> dict[str, str]:
    """wrangler's `--define KEY:VALUE` (split at the first colon)."""
    found = {}
    for value in values:
        key, colon, expression = value.partition(":")
        if not colon or not key:
            raise ValueError(f"{value!r} is not KEY:VALUE")
        found[key] = expression
    return found


def run_custom_build(worker: str, build: BuildCommand) -> None:
    """Run a `[build] command` as wrangler runs it (a shell, WRANGLER_COMMAND=dev), its
    output logged line by line as it comes."""
    log.info("[custom build] %s: running `%s` in %s", worker, build.command, build.cwd)
    last: deque[str] = deque(maxlen=LAST_LINES)
    try:
        process = subprocess.Popen(
            build.command,
            shell=True,
            cwd=build.cwd,
            env={**os.environ, "WRANGLER_COMMAND": "dev"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildFailed(f"Running custom build `{build.command}` failed: {exc}") from exc
    assert process.stdout is not None
    with process:
        for line in process.stdout:
            line = line.rstrip("\n")
            last.append(line)
            log.info("[custom build] %s", line)
    if process.returncode != 0:
        tail = " | ".join(line for line in last if line.strip()) or "(no output)"
        raise BuildFailed(
            f"Running custom build `{build.command}` failed with exit code "
            f"{process.returncode}; its last lines: {tail}"
        )


def _prebuilt(worker: Worker, path: Path) -> Worker:
    """The given bundle as main, with the modules beside it its rules claim (wrangler's
    hashed `.css` text modules, say)."""
    if not path.is_file():
        raise BundleError(f"--bundle {path}: no such file")
    path = path.resolve()
    modules = [
        m
        for m in collect_modules(path, path.parent, worker.bundling.rules)
        if m.path == path or m.type not in ("esModule", "commonJsModule")
    ]
    return worker.model_copy(update={"modules": modules})


def version_metadata(worker: Worker) -> Worker:
    """Fill `[version_metadata]`: an id that changes when the code does (as a deployment's
    does), no tag, and the time the newest module was written."""
    if not any(isinstance(b, VersionMetadataBinding) for b in worker.bindings):
        return worker
    digest = hashlib.sha256()
    for module in worker.modules:
        digest.update(module.name.encode() + b"\0" + module.path.read_bytes())
    version = uuid.UUID(bytes=digest.digest()[:16], version=4)
    newest = max(m.path.stat().st_mtime for m in worker.modules)
    stamp = datetime.fromtimestamp(newest, UTC).isoformat(timespec="milliseconds")
    bindings = [
        b.model_copy(update={"id": str(version), "timestamp": stamp.replace("+00:00", "Z")})
        if isinstance(b, VersionMetadataBinding)
        else b
        for b in worker.bindings
    ]
    return worker.model_copy(update={"bindings": bindings})


def _bundled(worker: Worker, data_dir: Path, loaded: LoadedStack) -> list[Module]:
    try:
        esbuild = ESBUILD.locate()
    except ToolNotFound as exc:
        raise BundleError(str(exc)) from exc
    with private_files():
        result = bundle(worker, esbuild, data_dir / "bundles" / file_part(worker.name))
    loaded.inputs += result.inputs
    loaded.sources[worker.name] = [p for p in result.inputs if p.suffix in SOURCE_SUFFIXES]
    return result.modules


def build(loaded: LoadedStack, data_dir: Path, choice: BundleChoice) -> LoadedStack:
    """Every Worker ready to render; bundle inputs join what a reload watches."""
    if choice.prebuilt is not None and len(loaded.stack.workers) != 1:
        raise BundleError("--bundle names one Worker's bundle: give exactly one -c with it")
    workers = []
    for worker in loaded.stack.workers:
        if choice.prebuilt is not None:
            worker = _prebuilt(worker, choice.prebuilt)
            loaded.inputs.append(choice.prebuilt.resolve())
        elif not choice.disabled and worker.bundling.enabled:
            define = {**worker.bundling.define, **choice.define}
            worker = worker.model_copy(
                update={"bundling": worker.bundling.model_copy(update={"define": define})}
            )
            if needs_bundle(worker):
                worker = worker.model_copy(update={"modules": _bundled(worker, data_dir, loaded)})
        workers.append(version_metadata(worker))
    loaded.stack = loaded.stack.model_copy(update={"workers": workers})
    return loaded
