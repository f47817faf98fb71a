"""Small static programs built from sources that ship beside their build scripts, cached by
the hash of both, so tests, `groundflare vm build` and serve share one binary."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

VM_DIR = Path(__file__).resolve().parent.parent


class ToolBuildError(Exception):
    """The program could not be built; the message has the script's last words."""


def source_key(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(VM_DIR)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def built(script: Path, sources: Sequence[Path], cache: Path, name: str) -> Path:
    """`script OUT` once per version of the sources (and the script)."""
    out = cache / name / source_key([script, *sources]) / name
    if out.is_file():
        return out
    if not script.is_file():
        raise ToolBuildError(f"{script} is missing: reinstall groundflare")
    result = subprocess.run(
        ["sh", str(script), str(out)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        words = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ToolBuildError(f"building {name} failed: {' / '.join(words) or 'no output'}")
    return out


def guest_tool(cache: Path) -> Path:
    """gf-guest (vm/config/gf-guest.c), the guest init's helper."""
    config = VM_DIR / "config"
    return built(config / "build-gf-guest.sh", [config / "gf-guest.c"], cache, "gf-guest")
