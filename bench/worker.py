"""The benchmark Workers' configs, read once from wrangler.toml for both backends.

groundflare reads wrangler.toml itself; Miniflare gets the same facts (script, compatibility
date and flags, D1/KV/R2/Durable Object bindings) from here, so both run the exact same Worker
and config.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORKERS_DIR = BENCH_DIR / "workers"
D1_WORKER = WORKERS_DIR / "d1" / "wrangler.toml"
KV_WORKER = WORKERS_DIR / "kv" / "wrangler.toml"
R2_WORKER = WORKERS_DIR / "r2" / "wrangler.toml"
DO_WORKER = WORKERS_DIR / "do" / "wrangler.toml"
STACK_WORKER = WORKERS_DIR / "stack" / "wrangler.toml"
CACHE_WORKER = WORKERS_DIR / "cache" / "wrangler.toml"
QUEUES_WORKER = WORKERS_DIR / "queues" / "wrangler.toml"


@dataclass(frozen=True)
class DurableObjectClass:
    """A binding's class, and whether [[migrations]] made it a SQLite-backed one."""

    class_name: str
    sqlite: bool


@dataclass(frozen=True)
class WorkerConfig:
    """What a host needs to run the Worker: its files, runtime flags and bindings."""

    wrangler_toml: Path
    name: str
    script_path: Path
    compatibility_date: str
    compatibility_flags: tuple[str, ...]
    d1_databases: dict[str, str]  # binding -> database_id
    kv_namespaces: dict[str, str] = field(default_factory=dict)  # binding -> namespace id
    r2_buckets: dict[str, str] = field(default_factory=dict)  # binding -> bucket_name
    durable_objects: dict[str, DurableObjectClass] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    queue_producers: dict[str, str] = field(default_factory=dict)  # binding -> queue
    queue_consumers: dict[str, dict[str, Any]] = field(default_factory=dict)  # queue -> settings

    @classmethod
    def load(cls, wrangler_toml: Path) -> WorkerConfig:
        raw: dict[str, Any] = tomllib.loads(wrangler_toml.read_text(encoding="utf-8"))
        return cls(
            wrangler_toml=wrangler_toml,
            name=str(raw["name"]),
            script_path=(wrangler_toml.parent / raw["main"]).resolve(),
            compatibility_date=str(raw["compatibility_date"]),
            compatibility_flags=tuple(raw.get("compatibility_flags", ())),
            d1_databases={db["binding"]: db["database_id"] for db in raw.get("d1_databases", ())},
            kv_namespaces={ns["binding"]: ns["id"] for ns in raw.get("kv_namespaces", ())},
            r2_buckets={b["binding"]: b["bucket_name"] for b in raw.get("r2_buckets", ())},
            durable_objects=_durable_objects(raw),
            vars={k: str(v) for k, v in raw.get("vars", {}).items()},
            queue_producers={
                p["binding"]: p["queue"] for p in raw.get("queues", {}).get("producers", ())
            },
            queue_consumers={c["queue"]: c for c in raw.get("queues", {}).get("consumers", ())},
        )


def _durable_objects(raw: dict[str, Any]) -> dict[str, DurableObjectClass]:
    """Binding -> class, with the storage backend its migration chose (as wrangler reads it)."""
    sqlite = {
        name
        for migration in raw.get("migrations", ())
        for name in migration.get("new_sqlite_classes", ())
    }
    bindings = raw.get("durable_objects", {}).get("bindings", ())
    return {
        b["name"]: DurableObjectClass(b["class_name"], b["class_name"] in sqlite) for b in bindings
    }
