"""Which files become which kind of module, by wrangler's rules (`[[rules]]` + defaults).

wrangler's semantics (workers-sdk `deployment-bundle/rules.ts`, `module-collection.ts`):
user rules come before the defaults; a rule that is not `fallthrough = true` ends its
type, so a later rule of the same type (a default included) is removed, and importing a
file only a removed rule matches is an error. When bundling, a rule's globs are matched
against the import specifier as written (`./note.md`, `some-package/x.wasm`) with
glob-to-regexp's default semantics: `*` matches anything, `/` included.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from groundflare.workerd_config.model import Module, ModuleType
from groundflare.workerd_config.wrangler_schema import ModuleRule

# What wrangler adds after the user's rules when bundling (`DEFAULT_MODULE_RULES`).
BUNDLE_DEFAULT_RULES = [
    ModuleRule(type="Text", globs=["**/*.txt", "**/*.html", "**/*.sql"]),
    ModuleRule(type="Data", globs=["**/*.bin"]),
    ModuleRule(type="CompiledWasm", globs=["**/*.wasm", "**/*.wasm?module"]),
]
# Unbundled, JavaScript files are modules too.
DEFAULT_RULES = [
    ModuleRule(type="ESModule", globs=["**/*.js", "**/*.mjs"]),
    ModuleRule(type="CommonJS", globs=["**/*.cjs"]),
    *BUNDLE_DEFAULT_RULES,
]
MODULE_TYPES: dict[str, ModuleType] = {
    "ESModule": "esModule",
    "CommonJS": "commonJsModule",
    "Text": "text",
    "Data": "data",
    "CompiledWasm": "wasm",
}
JAVASCRIPT_RULES = ("ESModule", "CommonJS")


class RuleError(ValueError):
    """An import only a removed rule matches; wrangler's message."""


@dataclass
class ParsedRules:
    rules: list[ModuleRule]
    removed: list[ModuleRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def rule_json(rule: ModuleRule) -> str:
    """The rule as wrangler prints it (JSON.stringify of what was written)."""
    shown = rule.model_dump(mode="json", exclude_unset=True, exclude={"fallthrough"})
    if rule.fallthrough is not None:
        shown["fallthrough"] = rule.fallthrough
    return json.dumps(shown, separators=(",", ":"))


def parse_rules(user_rules: list[ModuleRule], defaults: list[ModuleRule]) -> ParsedRules:
    """wrangler's `parseRules`: the rules in force, the ones a rule without fallthrough
    removed, and wrangler's warning about them."""
    rules = [*user_rules, *defaults]
    completed: dict[str, int] = {}
    redundant: dict[str, list[int]] = {}
    removed: list[int] = []
    for index, rule in enumerate(rules):
        if rule.type in completed:
            if rules[completed[rule.type]].fallthrough is not False:
                redundant.setdefault(rule.type, []).append(index)
            removed.append(index)
        elif rule.fallthrough is not True:
            completed[rule.type] = index
    warnings = []
    for kind, at in completed.items():
        if kind not in redundant:
            continue
        default = "default " if at >= len(user_rules) else ""
        lines = [
            f"The {default}module rule {rule_json(rules[at])} does not have a fallback, the "
            "following rules will be ignored:"
        ]
        lines += [
            f" {rule_json(rules[i])}{' (DEFAULT)' if i >= len(user_rules) else ''}"
            for i in redundant[kind]
        ]
        lines.append(
            "\nAdd `fallthrough = true` to rule to allow next rule to be used or "
            "`fallthrough = false` to silence this warning"
        )
        warnings.append("\n".join(lines))
    kept = [rule for index, rule in enumerate(rules) if index not in removed]
    return ParsedRules(kept, [rules[i] for i in removed], warnings)


def glob_regex(glob: str) -> re.Pattern[str]:
    """glob-to-regexp without `globstar`/`extended`: `*` is `.*`, everything else literal."""
    parts = re.split(r"(\*+)", glob)
    body = "".join(".*" if part.startswith("*") else re.escape(part) for part in parts)
    return re.compile(f"^{body}$")


def matching_rule(specifier: str, rules: list[ModuleRule]) -> ModuleRule | None:
    for rule in rules:
        if any(glob_regex(glob).match(specifier) for glob in rule.globs):
            return rule
    return None


def specifier_type(specifier: str, parsed: ParsedRules) -> ModuleType | None:
    """The module type a bundled import gets, None when no rule claims it (esbuild bundles
    it); RuleError when only a removed rule matches, as wrangler refuses it."""
    rule = matching_rule(specifier, [r for r in parsed.rules if r.type in MODULE_TYPES])
    if rule is not None:
        return None if rule.type in JAVASCRIPT_RULES else MODULE_TYPES[rule.type]
    removed = matching_rule(specifier, parsed.removed)
    if removed is not None:
        raise RuleError(
            f"The file {specifier} matched a module rule in your configuration "
            f"({rule_json(removed)}), but was ignored because a previous rule with the same "
            "type was not marked as `fallthrough = true`."
        )
    return None


def suffix_of(glob: str) -> str | None:
    """The file suffix a glob's last segment ends with (`**/*.wasm?module` -> `.wasm`):
    how esbuild is told which imports to hand back to us."""
    last = glob.rsplit("/", 1)[-1].split("?", 1)[0]
    match = re.search(r"(\.[A-Za-z0-9_-]+)$", last)
    return match.group(1) if match else None


def _matches(name: str, glob: str) -> bool:
    # Unbundled, globs are relative to base_dir; `**/` also matches the top level.
    return fnmatchcase(name, glob) or (glob.startswith("**/") and fnmatchcase(name, glob[3:]))


def module_type(name: str, rules: list[ModuleRule]) -> ModuleType | None:
    """A file's type under base_dir: the first rule in force that matches it."""
    for rule in rules:
        if rule.type in MODULE_TYPES and any(_matches(name, glob) for glob in rule.globs):
            return MODULE_TYPES[rule.type]
    return None


def collect_modules(main: Path, base_dir: Path, user_rules: list[ModuleRule]) -> list[Module]:
    """The main module first, then every other file under base_dir a rule claims."""
    rules = parse_rules(user_rules, DEFAULT_RULES).rules
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
