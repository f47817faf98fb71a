"""Where the VM code finds the repository's scripts and keeps its build cache."""

from __future__ import annotations

from pathlib import Path

import platformdirs

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_cache() -> Path:
    """`.cache/vm/` in a source checkout (git-ignored), else the user cache dir."""
    if (REPO_ROOT / ".git").exists():
        return REPO_ROOT / ".cache" / "vm"
    return Path(platformdirs.user_cache_dir("groundflare", appauthor=False)) / "vm"
