"""Stack traces that name the Worker's own files, as `wrangler dev` shows them.

workerd prints positions in the bundle (`at runJob (index.js:14:11)`); each bundled
Worker's source map (groundflare/bundler.py writes it beside the bundle) turns them into
`src/jobs/runner.ts:8:11`, relative to the project's folder. Applied to every line of
workerd's output (console output and runtime errors) on its way to the log and the
terminal; the Worker's own `error.stack` is left as production leaves it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from groundflare.shim.traces.sourcemap import SourceMaps
from groundflare.workerd_config.model import Stack

# `(index.js:14:11)` or a bare `at index.js:14:11`.
_FRAME = re.compile(r"(?P<file>[\w./@-]+\.m?js):(?P<line>\d+):(?P<column>\d+)")


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
        self._loaded = SourceMaps()

    def _replace(self, match: re.Match[str]) -> str:
        place = self._maps.get(match.group("file"))
        if place is None:
            return match.group(0)
        source_map = self._loaded.get(place[0])
        found = source_map and source_map.find(int(match["line"]), int(match["column"]))
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
