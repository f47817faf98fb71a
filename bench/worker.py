"""The benchmark Worker's config, read once from wrangler.toml for both backends.

groundflare reads wrangler.toml itself; Miniflare gets the same facts (script, compatibility
date and flags, D1 bindings) from here, so both run the exact same Worker and config.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
D1_WORKER = BENCH_DIR / "workers" / "d1" / "wrangler.toml"


@dataclass(frozen=True)
class WorkerConfig:
    """What a host needs to run the Worker: its files, runtime flags and D1 bindings."""

    wrangler_toml: Path
    script_path: Path
    compatibility_date: str
    compatibility_flags: tuple[str, ...]
    d1_databases: dict[str, str]  # binding -> database_id

    @classmethod
    def load(cls, wrangler_toml: Path) -> WorkerConfig:
        raw: dict[str, Any] = tomllib.loads(wrangler_toml.read_text(encoding="utf-8"))
        return cls(
            wrangler_toml=wrangler_toml,
            script_path=(wrangler_toml.parent / raw["main"]).resolve(),
            compatibility_date=str(raw["compatibility_date"]),
            compatibility_flags=tuple(raw.get("compatibility_flags", ())),
            d1_databases={db["binding"]: db["database_id"] for db in raw.get("d1_databases", ())},
        )
