"""Stack traces as the developer wrote the code: positions in a Worker's modules mapped back
through the source map beside a bundled module (`<module>.map`, source map v3), or
pointed at the module's file when it runs unbundled."""

from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any

import orjson

_BASE64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
# `at fn (file:line:col)` or `at file:line:col`, as V8 writes a frame.
_FRAME = re.compile(r"(?P<file>[^\s()]+):(?P<line>\d+):(?P<col>\d+)(?P<end>\)?)\s*$")


def _vlq(segment: str) -> list[int]:
    values: list[int] = []
    value = shift = 0
    for char in segment:
        digit = _BASE64[char]
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        value = shift = 0
    return values


class SourceMap:
    """One decoded map: for each generated line, its segments sorted by column."""

    def __init__(self, document: dict[str, Any], folder: Path) -> None:
        root = document.get("sourceRoot") or ""
        self.sources = [folder / root / source for source in document.get("sources", [])]
        self._lines: list[tuple[list[int], list[tuple[int, int, int]]]] = []
        source = line = column = 0
        for text in str(document.get("mappings", "")).split(";"):
            columns: list[int] = []
            targets: list[tuple[int, int, int]] = []
            generated = 0
            for segment in text.split(","):
                if not segment:
                    continue
                fields = _vlq(segment)
                generated += fields[0]
                if len(fields) >= 4:
                    source += fields[1]
                    line += fields[2]
                    column += fields[3]
                    columns.append(generated)
                    targets.append((source, line, column))
            self._lines.append((columns, targets))

    def find(self, line: int, column: int) -> tuple[Path, int, int] | None:
        """The original (file, line, column) of a 1-based generated position."""
        if not 0 < line <= len(self._lines):
            return None
        columns, targets = self._lines[line - 1]
        index = bisect.bisect_right(columns, column - 1) - 1
        if index < 0:
            return None
        source, original_line, original_column = targets[index]
        if source >= len(self.sources):
            return None
        return self.sources[source].resolve(), original_line + 1, original_column + 1


class SourceMaps:
    """Maps read once per file version (a reload rewrites them)."""

    def __init__(self) -> None:
        self._maps: dict[Path, tuple[int, SourceMap | None]] = {}

    def get(self, path: Path) -> SourceMap | None:
        """The map at `path` as it is on disk now; None when missing or unreadable."""
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._maps.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            found: SourceMap | None = SourceMap(orjson.loads(path.read_bytes()), path.parent)
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            found = None
        self._maps[path] = (stamp, found)
        return found

    def stack(self, text: str, modules: dict[str, Path]) -> str:
        """`text` with each frame in one of `modules` pointed at its source."""
        return "\n".join(self._frame(line, modules) for line in text.splitlines())

    def _frame(self, line: str, modules: dict[str, Path]) -> str:
        match = _FRAME.search(line)
        if match is None or match["file"] not in modules:
            return line
        module = modules[match["file"]]
        row, col = int(match["line"]), int(match["col"])
        source_map = self.get(module.with_name(module.name + ".map"))
        found = source_map.find(row, col) if source_map is not None else None
        where = f"{found[0]}:{found[1]}:{found[2]}" if found else f"{module}:{row}:{col}"
        return line[: match.start()] + where + match["end"]
