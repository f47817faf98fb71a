"""Bundling a Worker with esbuild, the way wrangler does, without Node.js.

wrangler's esbuild options (workers-sdk `deployment-bundle/bundle.ts`): ES module
output, target es2024, JSX loader for .js, conditions workerd/worker/browser,
`cloudflare:*` and Node built-ins external, NODE_ENV defined. Files a module
rule claims (text, data, wasm) stay separate modules, as wrangler keeps them:
esbuild leaves their imports external and we point them at module names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from groundflare.workerd_config.model import BundleSettings, Module, Worker
from groundflare.workerd_config.module_rules import module_type

log = logging.getLogger("groundflare")

BUNDLE_SUFFIXES = {".ts", ".mts", ".cts", ".tsx", ".jsx"}
NODE_BUILTINS = (
    "assert async_hooks buffer child_process cluster console constants crypto dgram "
    "diagnostics_channel dns domain events fs http http2 https inspector module net os path "
    "perf_hooks process punycode querystring readline repl stream string_decoder sys timers tls "
    "trace_events tty url util v8 vm wasi worker_threads zlib"
).split()
_IMPORT = re.compile(
    r"""(?:^|[;\s])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']"""
    r"""|^\s*import\s*["']([^"']+)["']|require\s*\(\s*["']([^"']+)["']""",
    re.MULTILINE,
)


class BundleError(Exception):
    """esbuild refused the Worker; the message points at the file and line."""


@dataclass(frozen=True)
class Bundle:
    modules: list[Module]
    # The Worker's own source files esbuild read (node_modules excluded): for reloads and drift.
    inputs: list[Path]


def _relative(name: str, match: re.Match[str]) -> str:
    """The import `match` found, pointing at ./name instead."""
    return f"{match.group(1)}{match.group(2)}./{name}{match.group(2)}"


def main_and_base(worker: Worker) -> tuple[Path, Path]:
    main = worker.modules[0]
    depth = len(PurePosixPath(main.name).parts)
    return main.path, main.path.parents[depth - 1]


def needs_bundle(worker: Worker) -> bool:
    """TypeScript/JSX, or a main module importing anything but platform modules and
    rule-claimed files, needs esbuild; a self-contained main runs as is."""
    main, _ = main_and_base(worker)
    if main.suffix in BUNDLE_SUFFIXES:
        return True
    claimed = {
        m.path.suffix for m in worker.modules if m.type not in ("esModule", "commonJsModule")
    }
    source = main.read_text(encoding="utf-8", errors="replace")
    for match in _IMPORT.finditer(source):
        specifier = next(group for group in match.groups() if group)
        if specifier.startswith(("cloudflare:", "node:", "workerd:")):
            continue
        if Path(specifier).suffix in claimed:
            continue
        return True
    return False


def _externals(worker: Worker) -> list[str]:
    suffixes = {".txt", ".html", ".sql", ".bin", ".wasm"}
    suffixes |= {m.path.suffix for m in worker.modules if m.type in ("text", "data", "wasm")}
    patterns = ["cloudflare:*", "node:*", "workerd:*", "__STATIC_CONTENT_MANIFEST"]
    patterns += [name for builtin in NODE_BUILTINS for name in (builtin, f"{builtin}/*")]
    patterns += [f"*{suffix}" for suffix in sorted(suffixes)]
    return patterns


def esbuild_argv(
    esbuild: Path, worker: Worker, main: Path, out_file: Path, meta: Path, settings: BundleSettings
) -> list[str]:
    argv = [
        str(esbuild),
        str(main),
        "--bundle",
        "--format=esm",
        "--target=es2024",
        "--supported:import-source=true",
        "--loader:.js=jsx",
        "--loader:.mjs=jsx",
        "--loader:.cjs=jsx",
        "--conditions=workerd,worker,browser",
        "--platform=browser",
        f"--outfile={out_file}",
        f"--metafile={meta}",
        "--log-level=error",
        "--color=false",
        '--define:process.env.NODE_ENV="development"',
        '--define:global.process.env.NODE_ENV="development"',
        '--define:globalThis.process.env.NODE_ENV="development"',
    ]
    argv += [f"--external:{pattern}" for pattern in _externals(worker)]
    argv += [f"--define:{name}={value}" for name, value in sorted(settings.define.items())]
    if settings.minify:
        argv.append("--minify")
    return argv


def _error_message(stderr: str, cwd: Path) -> str:
    """esbuild's first error as `<file>:<line>:<column>: <message>`."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        if "[ERROR]" not in line:
            continue
        message = line.split("[ERROR]", 1)[1].strip()
        for follow in lines[index + 1 : index + 4]:
            where = re.match(r"^\s+(.+):(\d+):(\d+):$", follow)
            if where:
                path = (cwd / where.group(1)).resolve()
                return f"{path}:{where.group(2)}:{where.group(3)}: {message}"
        return message
    return stderr.strip() or "esbuild failed"


def _rewrite_rule_imports(code: str, meta: dict, cwd: Path, base: Path) -> tuple[str, list[Path]]:
    """Point external imports of rule-claimed files at module names relative to base_dir."""
    found: list[Path] = []
    for importer, info in meta["inputs"].items():
        for record in info.get("imports", []):
            specifier = record.get("original") or record["path"]
            if not record.get("external") or not specifier.startswith("."):
                continue
            target = ((cwd / importer).parent / specifier).resolve()
            if not target.is_file():
                raise BundleError(f"{cwd / importer}: imports {specifier!r}, which does not exist")
            name = PurePosixPath(target.relative_to(base)).as_posix()
            pattern = re.compile(
                r"""(from\s*|import\s*\(\s*|require\s*\(\s*|import\s*)(["'])"""
                + re.escape(specifier)
                + r"\2"
            )
            code = pattern.sub(partial(_relative, name), code)
            found.append(target)
    return code, found


def bundle(worker: Worker, esbuild: Path, out_dir: Path, settings: BundleSettings) -> Bundle:
    main, base = main_and_base(worker)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / f"{main.stem}.js"
    meta_file = out_dir / "meta.json"
    argv = esbuild_argv(esbuild, worker, main, out_file, meta_file, settings)
    key = hashlib.sha256("\0".join(argv).encode()).hexdigest()
    cached = _cached(out_dir, key)
    if cached is not None:
        return cached
    log.info("bundling %s (%s) with esbuild", worker.name, main)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=base, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise BundleError(_error_message(done.stderr, base))
    meta = json.loads(meta_file.read_text())
    code, rule_files = _rewrite_rule_imports(out_file.read_text("utf-8"), meta, base, base)
    out_file.write_text(code, encoding="utf-8")
    inputs = sorted(
        {(base / name).resolve() for name in meta["inputs"] if "node_modules" not in name}
        | set(rule_files)
    )
    result = _assemble(worker, out_file, base, inputs, rule_files)
    _remember(out_dir, key, result)
    log.info(
        "bundled %s: %d source files, %d KiB in %.0f ms",
        worker.name,
        len(inputs),
        out_file.stat().st_size // 1024,
        (time.perf_counter() - started) * 1000,
    )
    return result


def _assemble(
    worker: Worker, out_file: Path, base: Path, inputs: list[Path], rule_files: list[Path]
) -> Bundle:
    by_path = {m.path: m for m in worker.modules}
    extra = []
    for path in sorted(set(rule_files)):
        name = PurePosixPath(path.relative_to(base)).as_posix()
        known = by_path.get(path)
        extra.append(known or Module(name=name, path=path, type=module_type(name, []) or "data"))
    return Bundle(modules=[Module(name=out_file.name, path=out_file), *extra], inputs=inputs)


def _stamp(paths: list[Path]) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns if p.exists() else -1 for p in paths}


def _remember(out_dir: Path, key: str, result: Bundle) -> None:
    modules = [m.model_dump(mode="json") for m in result.modules]
    (out_dir / "result.json").write_text(json.dumps({"modules": modules}), encoding="utf-8")
    record = {"key": key, "inputs": _stamp(result.inputs)}
    (out_dir / "cache.json").write_text(json.dumps(record), encoding="utf-8")


def _cached(out_dir: Path, key: str) -> Bundle | None:
    """The previous bundle, when the flags and every input file are unchanged."""
    try:
        record = json.loads((out_dir / "cache.json").read_text("utf-8"))
        result = json.loads((out_dir / "result.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    inputs = [Path(p) for p in record["inputs"]]
    if record.get("key") != key or record["inputs"] != _stamp(inputs):
        return None
    return Bundle(modules=[Module.model_validate(m) for m in result["modules"]], inputs=inputs)
