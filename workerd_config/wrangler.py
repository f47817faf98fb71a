"""Import a Worker from wrangler.toml / wrangler.jsonc (the production source of truth)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workerd_config import jsonc
from workerd_config.model import (
    Binding,
    D1Binding,
    D1Database,
    D1HttpBinding,
    JsonBinding,
    KvBinding,
    KvNamespace,
    Module,
    R2Binding,
    R2Bucket,
    TextBinding,
    Worker,
)

SIDECAR_NAME = "groundflare.toml"


class ConfigError(ValueError):
    """A wrangler/groundflare config that cannot be used; the message names file and field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


BINDING_NAME = r"^[A-Za-z_$][A-Za-z0-9_$]*$"


class D1DatabaseEntry(_Section):
    binding: str = Field(pattern=BINDING_NAME)
    database_name: str | None = None
    database_id: str | None = None
    preview_database_id: str | None = None
    migrations_dir: str | None = None
    migrations_table: str | None = None


class KvNamespaceEntry(_Section):
    binding: str = Field(pattern=BINDING_NAME)
    id: str | None = None
    preview_id: str | None = None


class R2BucketEntry(_Section):
    binding: str = Field(pattern=BINDING_NAME)
    bucket_name: str | None = None
    preview_bucket_name: str | None = None
    jurisdiction: str | None = None


class WranglerConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    main: str
    compatibility_date: date | None = None
    compatibility_flags: list[str] = []
    vars: dict[str, Any] = {}
    d1_databases: list[D1DatabaseEntry] = []
    kv_namespaces: list[KvNamespaceEntry] = []
    r2_buckets: list[R2BucketEntry] = []


class D1HttpEntry(_Section):
    """A legacy HTTP D1 adapter: a service binding to the shim and a var with its base URL."""

    binding: str
    database: str
    url_var: str | None = None
    url: str = "http://d1-shim"


class SidecarConfig(BaseModel):
    """groundflare.toml: local-only declarations that have no place in wrangler.toml."""

    model_config = ConfigDict(extra="forbid")
    d1_http: list[D1HttpEntry] = []


KNOWN_IGNORED = {"$schema", "workers_dev", "route", "routes", "account_id", "upload_source_maps"}


@dataclass
class ImportedWorker:
    worker: Worker
    warnings: list[str] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any]:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        if path.suffix == ".toml":
            return tomllib.loads(source)
        return jsonc.loads(source)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:]}: {exc}") from exc


def _validation_message(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    return f"{path}: " + "; ".join(problems)


def _unknown_fields(prefix: str, section: BaseModel) -> list[str]:
    extra = section.model_extra or {}
    return [f"{prefix}{name}" for name in extra if name not in KNOWN_IGNORED]


def _d1_bindings(config: WranglerConfig) -> tuple[list[D1Binding], list[str]]:
    bindings: list[D1Binding] = []
    unknown: list[str] = []
    for index, entry in enumerate(config.d1_databases):
        database = D1Database(
            id=entry.database_id or entry.binding,
            name=entry.database_name or entry.binding,
        )
        bindings.append(D1Binding(name=entry.binding, database=database))
        unknown += _unknown_fields(f"d1_databases[{index}].", entry)
    return bindings, unknown


def _storage_bindings(config: WranglerConfig) -> tuple[list[Binding], list[str]]:
    """[[kv_namespaces]] and [[r2_buckets]]; locally, a missing id falls back to the binding."""
    bindings: list[Binding] = []
    unknown: list[str] = []
    for index, kv in enumerate(config.kv_namespaces):
        namespace = KvNamespace(id=kv.id or kv.binding)
        bindings.append(KvBinding(name=kv.binding, namespace=namespace))
        unknown += _unknown_fields(f"kv_namespaces[{index}].", kv)
    for index, r2 in enumerate(config.r2_buckets):
        bucket = R2Bucket(name=r2.bucket_name or r2.binding)
        bindings.append(R2Binding(name=r2.binding, bucket=bucket))
        unknown += _unknown_fields(f"r2_buckets[{index}].", r2)
    return bindings, unknown


def _sidecar_bindings(path: Path, d1: list[D1Binding]) -> tuple[list[Binding], list[str]]:
    if not path.exists():
        return [], []
    try:
        sidecar = SidecarConfig.model_validate(_read(path))
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, exc)) from exc
    by_name = {binding.name: binding.database for binding in d1}
    bindings: list[Binding] = []
    for index, entry in enumerate(sidecar.d1_http):
        if entry.database not in by_name:
            raise ConfigError(
                f"{path}: d1_http.{index}.database: {entry.database!r} is not the binding of a "
                f"[[d1_databases]] entry (known: {', '.join(sorted(by_name)) or 'none'})"
            )
        bindings.append(D1HttpBinding(name=entry.binding, database=by_name[entry.database]))
        if entry.url_var:
            bindings.append(TextBinding(name=entry.url_var, value=entry.url))
    return bindings, [f"{SIDECAR_NAME}: {name}" for name in _unknown_fields("", sidecar)]


def load_worker(path: Path, newest_compat_date: date, today: date) -> ImportedWorker:
    """Read one wrangler config (and its groundflare.toml sidecar) into a Worker."""
    path = path.resolve()
    try:
        config = WranglerConfig.model_validate(_read(path))
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, exc)) from exc
    warnings: list[str] = []
    main = (path.parent / config.main).resolve()
    if not main.is_file():
        raise ConfigError(f"{path}: main: {config.main!r} does not exist ({main})")
    if config.compatibility_date is None:
        requested = newest_compat_date
        warnings.append(f"{path}: no compatibility_date; using {requested.isoformat()}")
    else:
        requested = config.compatibility_date
    compat = min(requested, newest_compat_date, today)
    if compat != requested:
        warnings.append(
            f"{path}: compatibility_date {requested.isoformat()} is newer than this workerd "
            f"supports; running with {compat.isoformat()}"
        )
    bindings: list[Binding] = []
    for name, value in config.vars.items():
        if isinstance(value, str):
            bindings.append(TextBinding(name=name, value=value))
        else:
            bindings.append(JsonBinding(name=name, value=value))
    d1, unknown = _d1_bindings(config)
    bindings += d1
    storage, storage_unknown = _storage_bindings(config)
    bindings += storage
    unknown += storage_unknown
    sidecar, sidecar_unknown = _sidecar_bindings(path.parent / SIDECAR_NAME, d1)
    bindings += sidecar
    unknown += _unknown_fields("", config) + sidecar_unknown
    warnings += [f"{path}: {name} is not supported yet and is ignored" for name in unknown]
    worker = Worker(
        name=config.name,
        modules=[Module(name=main.name, path=main)],
        compatibility_date=compat,
        compatibility_flags=config.compatibility_flags,
        bindings=bindings,
    )
    return ImportedWorker(worker=worker, warnings=warnings)
