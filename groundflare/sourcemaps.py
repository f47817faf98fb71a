"""Stack traces that name the Worker's own files, as `wrangler dev` shows them.

workerd prints positions in the bundle (`at runJob (index.js:14:11)`); each bundled
Worker's source map (groundflare/bundler.py writes it beside the bundle) turns them into
`src/jobs/runner.ts:8:11`, relative to the project's folder. Applied to every line of
workerd's output (console output and runtime errors) on its way to the log and the
terminal; the Worker's own `error.stack` is left as production leaves it.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from groundflare.workerd_config.model import Stack

_BASE64 = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
# `(index.js:14:11)` or a bare `at index.js:14:11`.
_FRAME = re.compile(r"(?P<file>[\w./@-]+\.m?js):(?P<line>\d+):(?P<column>\d+)")
Segment = tuple[int, int, int, int]


def _vlq(text: str) -> list[int]:
    values, shift, value = [], 0, 0
    for char in text:
        digit = _BASE64[char]
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        shift, value = 0, 0
    return values


def decode(mappings: str) -> list[list[Segment]]:
    """Per generated line, its segments: (column, source, original line, original column)."""
    lines: list[list[Segment]] = []
    source = original_line = original_column = 0
    for text in mappings.split(";"):
        column = 0
        segments: list[Segment] = []
        for field in filter(None, text.split(",")):
            values = _vlq(field)
            column += values[0]
            if len(values) >= 4:
                source += values[1]
                original_line += values[2]
                original_column += values[3]
                segments.append((column, source, original_line, original_column))
        lines.append(segments)
    return lines


@dataclass
class SourceMap:
    sources: list[Path]
    lines: list[list[Segment]]

    @classmethod
    def read(cls, path: Path) -> SourceMap:
        raw = json.loads(path.read_text("utf-8"))
        root = path.parent / raw.get("sourceRoot", "")
        sources = [(root / source).resolve() for source in raw["sources"]]
        return cls(sources=sources, lines=decode(raw["mappings"]))

    def original(self, line: int, column: int) -> tuple[Path, int, int] | None:
        """The 1-based position in a source for a 1-based position in the bundle."""
        if not 0 < line <= len(self.lines):
            return None
        segments = self.lines[line - 1]
        at = bisect.bisect_right([s[0] for s in segments], column - 1) - 1
        if at < 0:
            return None
        _, source, original_line, original_column = segments[at]
        return self.sources[source], original_line + 1, original_column + 1


class StackRemapper:
    """Rewrites bundle positions in workerd's output lines; a module name two bundled
    Workers share (both `index.js`) is ambiguous in that output and is left alone."""

    def __init__(self, stack: Stack) -> None:
        found: dict[str, list[tuple[Path, Path]]] = {}
        for worker in stack.workers:
            main = worker.modules[0]
            source_map = main.path.with_name(main.path.name + ".map")
            root = worker.bundling.project_root or main.path.parent
            found.setdefault(main.name, []).append((source_map, root))
            if not source_map.is_file():  # unbundled: its positions are its own
                found[main.name].append((source_map, root))
        self._maps = {name: places[0] for name, places in found.items() if len(places) == 1}
        self._loaded: dict[Path, tuple[int, SourceMap]] = {}

    def _map(self, path: Path) -> SourceMap | None:
        """The map as it is on disk now (a reload rewrites it)."""
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._loaded.get(path)
        if cached is None or cached[0] != stamp:
            cached = (stamp, SourceMap.read(path))
            self._loaded[path] = cached
        return cached[1]

    def _replace(self, match: re.Match[str]) -> str:
        place = self._maps.get(match.group("file"))
        if place is None:
            return match.group(0)
        source_map = self._map(place[0])
        found = source_map and source_map.original(int(match["line"]), int(match["column"]))
        if not found:
            return match.group(0)
        source, line, column = found
        shown = os.path.relpath(source, place[1]) if source.is_relative_to(place[1]) else source
        return f"{shown}:{line}:{column}"

    def __call__(self, line: str) -> str:
        if not self._maps or "js:" not in line:
            return line
        try:
            return _FRAME.sub(self._replace, line)
        except (OSError, ValueError, KeyError, IndexError):
            # A map that cannot be read costs the mapping, never the log line.
            return line
