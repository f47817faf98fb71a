"""Bundling a Worker with esbuild, the way wrangler does, without Node.js.

wrangler's esbuild options (workers-sdk `deployment-bundle/bundle.ts`): ES module
output, target es2024, JSX loader for .js, conditions workerd/worker/browser, run in the
project's folder, `cloudflare:*` external, NODE_ENV and the config's `define`, `alias`,
`minify`, `keep_names`, `tsconfig`, `jsx_*`, a linked source map. Node built-ins follow
the Worker's Node.js compatibility mode (workerd_config/node_compat.py). Every import a
module rule claims (text, data, wasm; custom suffixes; outside the project folder; by
package name) becomes a separate module named as wrangler names it
(groundflare/bundle_output.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from groundflare.bundle_output import (
    ASSET_PREFIX,
    RuleModule,
    link_rule_modules,
    prepend,
    require_shim,
    rule_modules,
    source_of,
)
from groundflare.workerd_config.model import Module, ModuleType, Worker
from groundflare.workerd_config.module_rules import (
    BUNDLE_DEFAULT_RULES,
    JAVASCRIPT_RULES,
    ParsedRules,
    RuleError,
    parse_rules,
    specifier_type,
    suffix_of,
)
from groundflare.workerd_config.node_compat import (
    NODE_BUILTINS,
    NodeCompatMode,
    builtin_name,
    missing_builtin_note,
    node_compat_mode,
)

log = logging.getLogger("groundflare")

BUNDLE_SUFFIXES = {".ts", ".mts", ".cts", ".tsx", ".jsx"}
# Suffixes esbuild must keep compiling: a rule naming them cannot take the import over.
SCRIPT_SUFFIXES = BUNDLE_SUFFIXES | {".js", ".mjs", ".cjs", ".json"}
_IMPORT = re.compile(
    r"""(?:^|[;\s])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']"""
    r"""|^\s*import\s*["']([^"']+)["']|require\s*\(\s*["']([^"']+)["']""",
    re.MULTILINE,
)
# What esbuild's `file` loader names a rule-claimed import (groundflare/bundle_output.py).
ASSET_NAMES = ASSET_PREFIX + "[hash]-[name]"


class BundleError(Exception):
    """esbuild refused the Worker; the message points at the file and line."""


@dataclass(frozen=True)
class Bundle:
    modules: list[Module]
    # The Worker's own source files esbuild read (node_modules excluded): for reloads and drift.
    inputs: list[Path]


def main_and_base(worker: Worker) -> tuple[Path, Path]:
    main = worker.modules[0]
    depth = len(PurePosixPath(main.name).parts)
    return main.path, main.path.parents[depth - 1]


def needs_bundle(worker: Worker) -> bool:
    """TypeScript/JSX, build-time settings (`define`, `alias`, `minify`), or a main module
    importing anything but platform modules and rule-claimed files, need esbuild; a
    self-contained main runs as is."""
    main, _ = main_and_base(worker)
    settings = worker.bundling
    if main.suffix in BUNDLE_SUFFIXES or settings.define or settings.alias or settings.minify:
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


def rule_suffixes(parsed: ParsedRules) -> tuple[list[str], list[str]]:
    """The suffixes esbuild's `file` loader takes for us, and warnings about globs we
    cannot hand to esbuild by suffix."""
    suffixes: list[str] = []
    warnings = []
    for rule in [*parsed.rules, *parsed.removed]:
        if rule.type in JAVASCRIPT_RULES:
            continue
        for glob in rule.globs:
            suffix = suffix_of(glob)
            if suffix is None or suffix in SCRIPT_SUFFIXES:
                warnings.append(
                    f"module rule glob {glob!r}: groundflare applies rules to bundled imports by "
                    "file suffix, and this glob has none it can use; its imports are bundled"
                )
            elif suffix not in suffixes:
                suffixes.append(suffix)
    return suffixes, warnings


def _externals(mode: NodeCompatMode) -> list[str]:
    patterns = ["cloudflare:*", "workerd:*", "__STATIC_CONTENT_MANIFEST", "node:*"]
    if mode == "v2":
        patterns += [name for builtin in NODE_BUILTINS for name in (builtin, f"{builtin}/*")]
    return patterns


def _defines(worker: Worker) -> dict[str, str]:
    defines = {
        f"{prefix}process.env.NODE_ENV": '"development"'
        for prefix in ("", "global.", "globalThis.")
    }
    flags = worker.compatibility_flags
    navigator = "global_navigator" in flags or (
        worker.compatibility_date.isoformat() >= "2022-03-21" and "no_global_navigator" not in flags
    )
    if navigator:
        defines["navigator.userAgent"] = '"Cloudflare-Workers"'
    return defines | worker.bundling.define


def esbuild_argv(
    esbuild: Path, worker: Worker, main: Path, out_file: Path, meta: Path, suffixes: list[str]
) -> list[str]:
    settings = worker.bundling
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
        "--sourcemap",
        "--log-level=error",
        "--color=false",
        f"--asset-names={ASSET_NAMES}",
    ]
    mode = node_compat_mode(worker.compatibility_date, worker.compatibility_flags)
    argv += [f"--external:{pattern}" for pattern in _externals(mode)]
    argv += [f"--loader:{suffix}=file" for suffix in suffixes]
    argv += [f"--define:{name}={value}" for name, value in sorted(_defines(worker).items())]
    argv += [f"--alias:{name}={value}" for name, value in sorted(settings.alias.items())]
    if settings.keep_names:
        argv.append("--keep-names")
    if settings.minify:
        argv.append("--minify")
    if settings.tsconfig is not None:
        argv.append(f"--tsconfig={settings.tsconfig}")
    if settings.jsx_factory:
        argv.append(f"--jsx-factory={settings.jsx_factory}")
    if settings.jsx_fragment:
        argv.append(f"--jsx-fragment={settings.jsx_fragment}")
    return argv


def _error_message(stderr: str, cwd: Path, mode: NodeCompatMode) -> str:
    """esbuild's first error as `<file>:<line>:<column>: <message>`, with wrangler's note
    for a Node built-in the Worker's compatibility mode cannot serve."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        if "[ERROR]" not in line:
            continue
        message = line.split("[ERROR]", 1)[1].strip()
        unresolved = re.fullmatch(r'Could not resolve "([^"]+)"', message)
        if unresolved and builtin_name(unresolved.group(1)) is not None:
            message += ". " + missing_builtin_note(unresolved.group(1), mode)
        for follow in lines[index + 1 : index + 4]:
            where = re.match(r"^\s+(.+):(\d+):(\d+):$", follow)
            if where:
                path = (cwd / where.group(1)).resolve()
                return f"{path}:{where.group(2)}:{where.group(3)}: {message}"
        return message
    return stderr.strip() or "esbuild failed"


def _specifiers(meta: dict) -> dict[str, list[str]]:
    """Each input (as esbuild names it) -> the specifiers it was imported by."""
    found: dict[str, list[str]] = {}
    for info in meta["inputs"].values():
        for record in info.get("imports", []):
            if not record.get("external"):
                found.setdefault(record["path"], []).append(record.get("original", record["path"]))
    return found


def _check_rule_imports(meta: dict, parsed: ParsedRules, cwd: Path) -> dict[str, ModuleType]:
    """Each file a rule took (esbuild's input name) -> its module type, judged on the
    specifiers it was imported by, as wrangler judges them."""
    types: dict[str, ModuleType] = {}
    specifiers = _specifiers(meta)
    for output, info in meta["outputs"].items():
        if not PurePosixPath(output).name.startswith(ASSET_PREFIX):
            continue
        for name in info.get("inputs", {}):
            for specifier in specifiers.get(name, [name]):
                try:
                    kind = specifier_type(specifier, parsed)
                except RuleError as exc:
                    raise BundleError(str(exc)) from exc
                if kind is None:
                    raise BundleError(
                        f'{source_of(name, cwd)}: No loader is configured for "'
                        f'{Path(name.split("?")[0]).suffix}" files (no module rule matches '
                        f'"{specifier}")'
                    )
                types[name] = kind
    return types


def _required_builtins(meta: dict) -> list[str]:
    return sorted(
        {
            record["path"]
            for info in meta["inputs"].values()
            for record in info.get("imports", [])
            if record.get("kind") == "require-call"
            and record.get("external")
            and builtin_name(record["path"]) is not None
        }
    )


def bundle(worker: Worker, esbuild: Path, out_dir: Path) -> Bundle:
    settings = worker.bundling
    main, base = main_and_base(worker)
    cwd = settings.project_root or base
    parsed = parse_rules(settings.rules, BUNDLE_DEFAULT_RULES)
    suffixes, warnings = rule_suffixes(parsed)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / f"{main.stem}.js"
    meta_file = out_dir / "meta.json"
    argv = esbuild_argv(esbuild, worker, main, out_file, meta_file, suffixes)
    key = hashlib.sha256("\0".join([*argv, str(cwd)]).encode()).hexdigest()
    cached = _cached(out_dir, key)
    if cached is not None:
        return cached
    for warning in parsed.warnings + warnings:
        log.warning("%s: %s", worker.name, warning)
    log.info("bundling %s (%s) with esbuild", worker.name, main)
    started = time.perf_counter()
    for stale in out_dir.glob(f"{ASSET_PREFIX}*"):
        stale.unlink()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    mode = node_compat_mode(worker.compatibility_date, worker.compatibility_flags)
    if done.returncode != 0:
        raise BundleError(_error_message(done.stderr, cwd, mode))
    meta = json.loads(meta_file.read_text())
    types = _check_rule_imports(meta, parsed, cwd)
    modules = rule_modules(meta, cwd)
    code, imports = link_rule_modules(out_file.read_text("utf-8"), modules)
    source_map = out_file.with_name(out_file.name + ".map")
    shim = require_shim(_required_builtins(meta)) if mode == "v2" else []
    code = prepend(code, imports + shim, source_map)
    out_file.write_text(code, encoding="utf-8")
    for asset in out_dir.glob(f"{ASSET_PREFIX}*"):
        asset.unlink()
    inputs = sorted({source_of(name, cwd) for name in meta["inputs"] if "node_modules" not in name})
    result = Bundle(modules=_assemble(out_file, modules, types, cwd), inputs=inputs)
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
    out_file: Path, modules: dict[str, RuleModule], types: dict[str, ModuleType], cwd: Path
) -> list[Module]:
    """The bundle first, then each rule module once (by wrangler's name)."""
    kinds = {source_of(name, cwd): kind for name, kind in types.items()}
    found = {m.name: Module(name=m.name, path=m.path, type=kinds[m.path]) for m in modules.values()}
    return [
        Module(name=out_file.name, path=out_file),
        *sorted(found.values(), key=lambda m: m.name),
    ]


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
