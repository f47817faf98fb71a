"""Finishing esbuild's output the way wrangler's esbuild plugins shape it, without plugins.

esbuild's binary takes no plugins, so two of wrangler's are done after the build:

- files a module rule claims (text, data, wasm) are handed to esbuild's `file` loader,
  which leaves each as a unique string literal (`"./gfasset-<hash>-<name>"`); every such
  literal becomes a reference to an import of the module wrangler would have made
  (`./<sha1 of the content>-<file name>`), so the bundle imports the same modules;
- in Node.js compatibility v2, `require("node:buffer")` from CommonJS code would throw
  `Dynamic require of "node:buffer" is not supported`: the module gets a `require` that
  answers built-ins from static imports of them (wrangler's `handleRequireCallsToNodeJSBuiltins`).

Added lines go on top; the source map is shifted by as many lines, and each literal is
replaced by a name padded to the literal's length, so every mapped column stays right.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ASSET_PREFIX = "gfasset-"
# `"./gfasset-HASH-name.ext"`, maybe with the import's query (`?module`).
_ASSET_LITERAL = re.compile(r'"\./(' + ASSET_PREFIX + r'[^"?]+)(\?[^"]*)?"')


@dataclass(frozen=True)
class RuleModule:
    """A module a rule claimed: wrangler's name for it and the file it is."""

    name: str
    path: Path


def wrangler_module_name(path: Path) -> str:
    """`<sha1 of the content>-<file name>`, as wrangler's module collector names it."""
    digest = hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest()
    return f"{digest}-{path.name}"


def source_of(input_name: str, cwd: Path) -> Path:
    """An esbuild input (relative to its working dir, maybe `?query`-suffixed) as a file."""
    return (cwd / input_name.split("?", 1)[0]).resolve()


def rule_modules(meta: dict, cwd: Path) -> dict[str, RuleModule]:
    """Each asset esbuild wrote (its file name) -> the module it stands for."""
    found: dict[str, RuleModule] = {}
    for output, info in meta["outputs"].items():
        name = PurePosixPath(output).name
        if not name.startswith(ASSET_PREFIX) or not info.get("inputs"):
            continue
        source = source_of(next(iter(info["inputs"])), cwd)
        found[name] = RuleModule(name=wrangler_module_name(source), path=source)
    return found


def _identifier(index: int, width: int) -> str:
    """`__gfmN` padded to `width` characters (a literal is always longer)."""
    name = f"__gfm{index}"
    return name + " " * (width - len(name))


def link_rule_modules(code: str, modules: dict[str, RuleModule]) -> tuple[str, list[str]]:
    """The code with every asset literal replaced, and the import lines it needs on top."""
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        module = modules[match.group(1)]
        index = names.setdefault(module.name, len(names))
        return _identifier(index, len(match.group(0)))

    code = _ASSET_LITERAL.sub(replace, code)
    imports = [f'import __gfm{i} from "./{name}";' for name, i in names.items()]
    return code, imports


def require_shim(builtins: list[str]) -> list[str]:
    """A module-scope `require` answering the given built-in specifiers (as written)."""
    if not builtins:
        return []
    lines = []
    table = []
    for index, specifier in enumerate(sorted(set(builtins))):
        target = specifier if specifier.startswith("node:") else f"node:{specifier}"
        lines.append(f'import * as __gfn{index} from "{target}";')
        table.append(f"{json.dumps(specifier)}: __gfn{index}")
    lines.append(
        "function require(id) { const m = { " + ", ".join(table) + " }[id]; "
        "if (m) return m.default ?? m; "
        'throw new Error(`Dynamic require of "${id}" is not supported`); }'
    )
    return lines


def prepend(code: str, lines: list[str], source_map: Path | None) -> str:
    """`lines` on top of the code; the map's generated lines move down as many."""
    if not lines:
        return code
    if source_map is not None and source_map.is_file():
        mapping = json.loads(source_map.read_text("utf-8"))
        mapping["mappings"] = ";" * len(lines) + mapping["mappings"]
        source_map.write_text(json.dumps(mapping), encoding="utf-8")
    return "\n".join(lines) + "\n" + code
