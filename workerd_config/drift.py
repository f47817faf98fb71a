"""Drift between what a Worker's code reads from `env` and what its config binds.

Teams keep a hand-written script for this; here it is built in. The scan is
lexical (the code is not run): `env.NAME`, `env["NAME"]`, and destructuring
such as `const { DB, KV: store } = env` or `({ env: { DB } })`, outside
comments, in the Worker's own source files (not node_modules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from groundflare.workerd_config.model import Worker

SOURCE_SUFFIXES = {".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx"}
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_DOTTED = re.compile(r"(?<![\w$.])(?:this\.|\w+\.)?env\.([A-Za-z_$][\w$]*)")
_INDEXED = re.compile(r"(?<![\w$.])(?:this\.|\w+\.)?env\[\s*[\"']([A-Za-z_$][\w$]*)[\"']\s*\]")
_DESTRUCTURED = re.compile(r"\{([^{}]*)\}\s*=\s*(?:this\.|\w+\.)?env\b|\benv\s*:\s*\{([^{}]*)\}")
_NOT_WORKER_ENV = re.compile(r"(?:process|import\.meta)\.env\.")
_NAME = re.compile(r"[A-Za-z_$][\w$]*")


@dataclass(frozen=True)
class Reference:
    name: str
    path: Path
    line: int


@dataclass
class Drift:
    worker: str
    unbound: list[Reference]
    unused: list[str]


def _blank_comments(source: str) -> str:
    """Comments become spaces (newlines kept), so line numbers still match the file."""
    return _COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)


def _destructured_names(group: str) -> list[str]:
    """The keys a destructuring pattern reads; none for an object literal that only looks
    like one (`env: { PORT: '8080' }`): a pattern's `KEY: target` is always a name."""
    names = []
    for part in group.split(","):
        key, _, target = part.partition(":")
        if target and not _NAME.fullmatch(target.split("=")[0].strip()):
            return []
        key = key.split("=")[0].strip().lstrip(".")
        if _NAME.fullmatch(key):
            names.append(key)
    return names


def references(path: Path) -> list[Reference]:
    source = _blank_comments(path.read_text(encoding="utf-8", errors="replace"))
    source = _NOT_WORKER_ENV.sub(lambda m: " " * len(m.group(0)), source)
    found = []

    def line_of(offset: int) -> int:
        return source.count("\n", 0, offset) + 1

    for pattern in (_DOTTED, _INDEXED):
        for match in pattern.finditer(source):
            found.append(Reference(match.group(1), path, line_of(match.start())))
    for match in _DESTRUCTURED.finditer(source):
        for name in _destructured_names(match.group(1) or match.group(2) or ""):
            found.append(Reference(name, path, line_of(match.start())))
    return found


def source_files(worker: Worker) -> list[Path]:
    return [
        module.path
        for module in worker.modules
        if module.path.suffix in SOURCE_SUFFIXES and "node_modules" not in module.path.parts
    ]


def check(worker: Worker, files: list[Path]) -> Drift:
    bound = {binding.name for binding in worker.bindings}
    refs = [ref for path in files for ref in references(path)]
    seen = {ref.name for ref in refs}
    unbound: dict[str, Reference] = {}
    for ref in refs:
        if ref.name not in bound:
            unbound.setdefault(ref.name, ref)
    return Drift(
        worker=worker.name,
        unbound=sorted(unbound.values(), key=lambda r: (str(r.path), r.line)),
        unused=sorted(bound - seen),
    )
