"""Which files become which kind of module, by wrangler's rules (`[[rules]]` + defaults)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from groundflare.workerd_config.model import Module, ModuleType
from groundflare.workerd_config.wrangler_schema import ModuleRule

DEFAULT_RULES = [
    ModuleRule(type="ESModule", globs=["**/*.js", "**/*.mjs"]),
    ModuleRule(type="CommonJS", globs=["**/*.cjs"]),
    ModuleRule(type="Text", globs=["**/*.txt", "**/*.html", "**/*.sql"]),
    ModuleRule(type="Data", globs=["**/*.bin"]),
    ModuleRule(type="CompiledWasm", globs=["**/*.wasm", "**/*.wasm?module"]),
]
MODULE_TYPES: dict[str, ModuleType] = {
    "ESModule": "esModule",
    "CommonJS": "commonJsModule",
    "Text": "text",
    "Data": "data",
    "CompiledWasm": "wasm",
}


def _matches(name: str, glob: str) -> bool:
    # wrangler's globs are relative to base_dir; `**/` also matches the top level.
    return fnmatchcase(name, glob) or (glob.startswith("**/") and fnmatchcase(name, glob[3:]))


def module_type(name: str, rules: list[ModuleRule]) -> ModuleType | None:
    """User rules first, then the defaults (a user rule without fallthrough shadows them)."""
    for rule in [*rules, *DEFAULT_RULES]:
        if rule.type not in MODULE_TYPES:
            continue
        if any(_matches(name, glob) for glob in rule.globs):
            return MODULE_TYPES[rule.type]
    return None


def collect_modules(main: Path, base_dir: Path, rules: list[ModuleRule]) -> list[Module]:
    """The main module first, then every other file under base_dir a rule claims."""
    main_name = PurePosixPath(main.relative_to(base_dir)).as_posix()
    modules = [Module(name=main_name, path=main, type=module_type(main_name, rules) or "esModule")]
    for path in sorted(base_dir.rglob("*")):
        if not path.is_file() or path == main or "node_modules" in path.parts:
            continue
        name = PurePosixPath(path.relative_to(base_dir)).as_posix()
        kind = module_type(name, rules)
        if kind is not None:
            modules.append(Module(name=name, path=path, type=kind))
    return modules
