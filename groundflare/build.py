"""From loaded configs to runnable Workers: bundle what needs bundling, or use a given bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from groundflare.bundler import BundleError, bundle, needs_bundle
from groundflare.contracts.names import file_part
from groundflare.native_tools import ESBUILD, ToolNotFound
from groundflare.workerd_config.drift import SOURCE_SUFFIXES
from groundflare.workerd_config.model import Worker
from groundflare.workerd_config.module_rules import collect_modules
from groundflare.workerd_config.stack_loader import LoadedStack


@dataclass(frozen=True)
class BundleChoice:
    """`--no-bundle`, or `--bundle PATH` (a prebuilt bundle, e.g. from a production build)."""

    disabled: bool = False
    prebuilt: Path | None = None


def _prebuilt(worker: Worker, path: Path) -> Worker:
    """The given bundle as main, with the text/data/wasm modules beside it."""
    if not path.is_file():
        raise BundleError(f"--bundle {path}: no such file")
    path = path.resolve()
    modules = [
        m
        for m in collect_modules(path, path.parent, [])
        if m.path == path or m.type not in ("esModule", "commonJsModule")
    ]
    return worker.model_copy(update={"modules": modules})


def build(loaded: LoadedStack, data_dir: Path, choice: BundleChoice) -> LoadedStack:
    """Every Worker ready to render; bundle inputs join what a reload watches."""
    if choice.prebuilt is not None and len(loaded.stack.workers) != 1:
        raise BundleError("--bundle names one Worker's bundle: give exactly one -c with it")
    workers = []
    for worker in loaded.stack.workers:
        if choice.prebuilt is not None:
            workers.append(_prebuilt(worker, choice.prebuilt))
            loaded.inputs.append(choice.prebuilt.resolve())
            continue
        if choice.disabled or not worker.bundling.enabled or not needs_bundle(worker):
            workers.append(worker)
            continue
        try:
            esbuild = ESBUILD.locate()
        except ToolNotFound as exc:
            raise BundleError(str(exc)) from exc
        out_dir = data_dir / "bundles" / file_part(worker.name)
        result = bundle(worker, esbuild, out_dir, worker.bundling)
        loaded.inputs += result.inputs
        loaded.sources[worker.name] = [p for p in result.inputs if p.suffix in SOURCE_SUFFIXES]
        workers.append(worker.model_copy(update={"modules": result.modules}))
    loaded.stack = loaded.stack.model_copy(update={"workers": workers})
    return loaded
