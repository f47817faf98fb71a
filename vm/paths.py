"""Where the VM code keeps its build cache."""

from __future__ import annotations

from pathlib import Path

import platformdirs


def default_cache() -> Path:
    """The user cache dir's `vm/` (`~/.cache/groundflare/vm` on Linux), checkout or not."""
    return Path(platformdirs.user_cache_dir("groundflare", appauthor=False)) / "vm"
