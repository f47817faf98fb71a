"""The reference sandbox (vm/sandbox/sandbox.c): a test fixture and demo, built on demand.

Built by vm/sandbox/build.sh (gcc -static) into the cache, keyed by the hash of its source
and the script, so tests and `groundflare vm build` share one binary.
"""

from __future__ import annotations

from pathlib import Path

from groundflare.vm.image import BuildError
from groundflare.vm.image.tools import ToolBuildError, built

SOURCE = Path(__file__).resolve().parent / "sandbox" / "sandbox.c"
BUILD_SCRIPT = SOURCE.parent / "build.sh"


def build_reference_sandbox(cache: Path) -> Path:
    """The static binary for the current source (built once per source version)."""
    try:
        return built(BUILD_SCRIPT, [SOURCE], cache, "sandbox")
    except ToolBuildError as exc:
        raise BuildError(str(exc)) from exc
