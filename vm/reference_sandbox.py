"""The reference sandbox (vm/sandbox/sandbox.c): a test fixture and demo, built on demand.

Built by vm/sandbox/build.sh (gcc -static) into the cache, keyed by the hash of its
source and the script, so tests and `groundflare vm build` share one binary.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from groundflare.vm.image import BuildError

SOURCE = Path(__file__).resolve().parent / "sandbox" / "sandbox.c"
BUILD_SCRIPT = SOURCE.parent / "build.sh"


def source_key() -> str:
    digest = hashlib.sha256()
    for path in (SOURCE, BUILD_SCRIPT):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_reference_sandbox(cache: Path) -> Path:
    """The static binary for the current source (built once per source version)."""
    out = cache / "sandbox" / source_key() / "sandbox"
    if out.is_file():
        return out
    if not BUILD_SCRIPT.is_file():
        raise BuildError(f"{BUILD_SCRIPT} is missing: reinstall groundflare")
    result = subprocess.run(
        ["sh", str(BUILD_SCRIPT), str(out)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"building the reference sandbox failed: {result.stderr.strip()}")
    return out
