"""Import a Worker from wrangler.toml / wrangler.jsonc (the production source of truth)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import json5
from pydantic import BaseModel, ConfigDict, ValidationError

from groundflare.workerd_config.build_settings import (
    BuildCommand,
    build_command,
    bundle_settings,
    watched_files,
)
from groundflare.workerd_config.crons import CronError, to_croniter
from groundflare.workerd_config.dev_vars import load_dev_vars
from groundflare.workerd_config.durable_objects import MigrationError, classes_from_migrations
from groundflare.workerd_config.hyperdrive import HyperdriveError, hyperdrive_bindings
from groundflare.workerd_config.kinds import ConfigKind
from groundflare.workerd_config.model import (
    AssetsSettings,
    BindingModel,
    DurableObjectBinding,
    DurableObjectClass,
    JsonBinding,
    SecretBinding,
    ServiceBinding,
    ShimServiceBinding,
    TextBinding,
    VersionMetadataBinding,
    Worker,
)
from groundflare.workerd_config.module_rules import collect_modules
from groundflare.workerd_config.wrangler_kinds import (
    NAMED_ELSEWHERE,
    EntryError,
    kind_bindings,
    queue_consumers,
    unsupported_bindings,
)
from groundflare.workerd_config.wrangler_schema import (
    IGNORED_QUIETLY,
    INHERITABLE,
    Section,
    UnsafeBinding,
    WorkerSettings,
    WranglerFile,
    settings_models,
)

SIDECAR_NAME = "groundflare.toml"
# Runs a Worker's `[build] command` (its name, the command); raises ConfigError on failure.
BuildRunner = Callable[[str, BuildCommand], None]
# Fields groundflare understands but does not act on yet; named in a warning when set.
NOT_YET: tuple[str, ...] = ("find_additional_modules",)


class ConfigError(ValueError):
    """A wrangler/groundflare config that cannot be used; the message names file and field."""


class D1HttpEntry(Section):
    """A legacy HTTP D1 adapter: a service binding to the shim and a var with its base URL."""

    binding: str
    database: str
    url_var: str | None = None
    url: str = "http://d1-shim"


class SidecarConfig(BaseModel):
    """groundflare.toml: local-only declarations that have no place in wrangler.toml."""

    model_config = ConfigDict(extra="forbid")
    d1_http: list[D1HttpEntry] = []


@dataclass
class ImportedWorker:
    worker: Worker
    warnings: list[str] = field(default_factory=list)
    # Secret values by the environment variable workerd reads them from (never rendered).
    secrets: dict[str, str] = field(default_factory=dict)
    # Files besides the sources whose change changes the Worker (for reloads).
    inputs: list[Path] = field(default_factory=list)
    # Bindings production would give it and groundflare cannot: env name -> what it is.
    unsupported: dict[str, str] = field(default_factory=dict)


def read_config(path: Path) -> dict[str, Any]:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from exc
    try:
        if path.suffix == ".toml":
            return tomllib.loads(source)
        # JSON with comments anywhere and trailing commas, as wrangler reads it.
        parsed = json5.loads(source)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:]}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ConfigError(f"{path}: not valid {path.suffix[1:]}: the top level is not an object")
    return parsed


def _validation_message(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    return f"{path}: " + "; ".join(problems)


def _extras(prefix: str, section: BaseModel | None) -> list[str]:
    """Fields of a section groundflare does not read, recursively, by their dotted names."""
    if section is None:
        return []
    found = [
        f"{prefix}{name}"
        for name in section.model_extra or {}
        if name not in IGNORED_QUIETLY and not (prefix == "" and name in NAMED_ELSEWHERE)
    ]
    for name in type(section).model_fields:
        value = getattr(section, name)
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            # An unsafe binding's fields are its kind's to read (wrangler_kinds.py).
            if (
                isinstance(item, BaseModel)
                and name != "env"
                and not isinstance(item, UnsafeBinding)
            ):
                where = (
                    f"{prefix}{name}[{index}]." if isinstance(value, list) else f"{prefix}{name}."
                )
                found += _extras(where, item)
    return found


def select_environment(
    config: WranglerFile, env: str | None, path: Path
) -> tuple[WorkerSettings, list[str]]:
    """The top level, or `[env.<env>]` with wrangler's inheritance rules."""
    if env is None:
        return config, []
    section = config.env.get(env)
    if section is None and not config.env:
        # wrangler only warns when a config has no environments at all, and runs the top level.
        return config, [f'{path}: no environment named "{env}"; using the top level']
    if section is None:
        known = ", ".join(sorted(config.env))
        raise ConfigError(f"{path}: no [env.{env}] section (environments: {known})")
    merged: dict[str, Any] = {}
    warnings = []
    for name in type(section).model_fields:
        value = getattr(section, name)
        top = getattr(config, name)
        if value is None and name in INHERITABLE:
            value = top
        elif value is None and top:
            warnings.append(
                f"{path}: {name} exists at the top level but not in [env.{env}]; as in "
                f"production, the {env} environment gets none (restate it to keep it)"
            )
        merged[name] = value
    if section.name is None and config.name is not None:
        merged["name"] = f"{config.name}-{env}"
    settings = type(section).model_validate({**merged, **(section.model_extra or {})})
    return settings, warnings


def secret_env_var(worker: str, name: str) -> str:
    return "GROUNDFLARE_SECRET__" + re.sub(r"[^A-Z0-9]", "_", f"{worker}__{name}".upper())


def _var_bindings(settings: WorkerSettings) -> list[BindingModel]:
    bindings: list[BindingModel] = []
    for name, value in (settings.vars or {}).items():
        if isinstance(value, str):
            bindings.append(TextBinding(name=name, value=value))
        else:
            bindings.append(JsonBinding(name=name, value=value))
    return bindings


def _kind_bindings(
    settings: WorkerSettings, kinds: Sequence[ConfigKind], path: Path
) -> tuple[list[BindingModel], list[str]]:
    """The bindings of every shim-served kind (D1, KV, R2, ...), each kind reading its own
    wrangler array and its `[[unsafe.bindings]]` type (workerd_config/wrangler_kinds.py)."""
    try:
        return kind_bindings(settings, kinds, path)
    except EntryError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _worker_bindings(settings: WorkerSettings) -> list[BindingModel]:
    bindings: list[BindingModel] = []
    for entry in settings.durable_objects.bindings if settings.durable_objects else []:
        bindings.append(
            DurableObjectBinding(
                name=entry.name, class_name=entry.class_name, worker=entry.script_name
            )
        )
    for service in settings.services or []:
        bindings.append(
            ServiceBinding(
                name=service.binding, service=service.service, entrypoint=service.entrypoint
            )
        )
    return bindings


def _durable_object_classes(
    settings: WorkerSettings, path: Path
) -> tuple[list[DurableObjectClass], list[str]]:
    try:
        classes, warnings = classes_from_migrations(settings.migrations or [])
    except MigrationError as exc:
        raise ConfigError(f"{path}: migrations: {exc}") from exc
    warnings = [f"{path}: {w}" for w in warnings]
    for entry in settings.durable_objects.bindings if settings.durable_objects else []:
        if entry.script_name is None and entry.class_name not in classes:
            warnings.append(
                f"{path}: Durable Object class {entry.class_name} has no [[migrations]] entry "
                "(production refuses to deploy it); running it as a new_sqlite_classes class"
            )
            classes[entry.class_name] = DurableObjectClass(
                class_name=entry.class_name, unique_key=entry.class_name, enable_sql=True
            )
    return list(classes.values()), warnings


def _sidecar_bindings(
    path: Path, bindings: list[BindingModel]
) -> tuple[list[BindingModel], list[str]]:
    if not path.exists():
        return [], []
    try:
        sidecar = SidecarConfig.model_validate(read_config(path))
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, exc)) from exc
    by_name = {b.name: b.resources()[0] for b in bindings if b.kind == "d1"}
    found: list[BindingModel] = []
    for index, entry in enumerate(sidecar.d1_http):
        if entry.database not in by_name:
            raise ConfigError(
                f"{path}: d1_http.{index}.database: {entry.database!r} is not the binding of a "
                f"[[d1_databases]] entry (known: {', '.join(sorted(by_name)) or 'none'})"
            )
        found.append(
            ShimServiceBinding(
                name=entry.binding, handler="d1-http", resource=by_name[entry.database]
            )
        )
        if entry.url_var:
            found.append(TextBinding(name=entry.url_var, value=entry.url))
    return found, [f"{path}: {name}" for name in _extras("", sidecar)]


def _assets(settings: WorkerSettings, path: Path) -> AssetsSettings | None:
    assets = settings.assets
    if assets is None:
        return None
    directory = (path.parent / assets.directory).resolve()
    if not directory.is_dir():
        raise ConfigError(f"{path}: assets.directory: {assets.directory!r} is not a directory")
    unsupported = {
        "html_handling": assets.html_handling not in ("auto-trailing-slash", "none"),
        "run_worker_first": isinstance(assets.run_worker_first, list),
    }
    for field_name, bad in unsupported.items():
        if bad:
            raise ConfigError(
                f"{path}: assets.{field_name}: {getattr(assets, field_name)!r} is not supported "
                "locally yet (see docs/config.md)"
            )
    return AssetsSettings(
        directory=directory,
        binding=assets.binding,
        html_handling=assets.html_handling,
        not_found_handling=assets.not_found_handling,
        run_worker_first=bool(assets.run_worker_first),
    )


def _version_metadata(settings: WorkerSettings) -> list[BindingModel]:
    entry = settings.version_metadata
    return [VersionMetadataBinding(name=entry.binding)] if entry is not None else []


def _crons(settings: WorkerSettings, path: Path) -> list[str]:
    crons = settings.triggers.crons if settings.triggers else []
    for index, expression in enumerate(crons):
        try:
            to_croniter(expression)
        except CronError as exc:
            raise ConfigError(f"{path}: triggers.crons.{index}: {exc}") from exc
    return crons


def _compatibility_date(
    settings: WorkerSettings, path: Path, newest: date, today: date
) -> tuple[date, list[str]]:
    if settings.compatibility_date is None:
        return min(newest, today), [f"{path}: no compatibility_date; using {min(newest, today)}"]
    requested = settings.compatibility_date
    chosen = min(requested, newest, today)
    if chosen == requested:
        return chosen, []
    return chosen, [
        f"{path}: compatibility_date {requested.isoformat()} is newer than this workerd "
        f"supports; running with {chosen.isoformat()}"
    ]


def load_worker(
    path: Path,
    newest_compat_date: date,
    today: date,
    kinds: Sequence[ConfigKind],
    env: str | None = None,
    run_build: BuildRunner | None = None,
) -> ImportedWorker:
    """Read one wrangler config (its `[env.<env>]`, its .dev.vars, its groundflare.toml);
    `kinds` are the shim-served binding kinds (shim/registry.py); `run_build` runs a
    `[build] command` before `main` is looked for (groundflare/build.py)."""
    path = path.resolve()
    _, file_model = settings_models(tuple((kind.wrangler_field, kind.entry) for kind in kinds))
    try:
        config: WranglerFile = file_model.model_validate(read_config(path))
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, exc)) from exc
    settings, warnings = select_environment(config, env, path)
    if settings.name is None:
        raise ConfigError(f"{path}: name: Field required")
    if settings.main is None:
        raise ConfigError(f"{path}: main: Field required")
    build = build_command(settings, path)
    if build is not None and run_build is not None:
        run_build(settings.name, build)
    main = (path.parent / settings.main).resolve()
    if not main.is_file() and build is not None:
        raise ConfigError(
            f'{path}: The expected output file at "{settings.main}" was not found after '
            f"running custom build: {build.command}. The `main` property in your {path.name} "
            "file should point to the file generated by the custom build."
        )
    if not main.is_file():
        raise ConfigError(f"{path}: main: {settings.main!r} does not exist ({main})")
    base_dir = (path.parent / settings.base_dir).resolve() if settings.base_dir else main.parent
    compat, compat_warnings = _compatibility_date(settings, path, newest_compat_date, today)
    classes, do_warnings = _durable_object_classes(settings, path)
    kind_bindings, unsafe_warnings = _kind_bindings(settings, kinds, path)
    bindings = _var_bindings(settings) + kind_bindings + _worker_bindings(settings)
    try:
        bindings += hyperdrive_bindings(settings.hyperdrive or [], path)
    except HyperdriveError as exc:
        raise ConfigError(str(exc)) from exc
    consumers, consumer_warnings = queue_consumers(settings, settings.name, path)
    unsupported, unsupported_warnings = unsupported_bindings(settings, path)
    sidecar, sidecar_warnings = _sidecar_bindings(path.parent / SIDECAR_NAME, bindings)
    secrets_found, secret_files = load_dev_vars(path.parent, env)
    secrets = {secret_env_var(settings.name, k): v for k, v in secrets_found.items()}
    bindings = [b for b in bindings if b.name not in secrets_found] + [
        SecretBinding(name=name, env=secret_env_var(settings.name, name)) for name in secrets_found
    ]
    unknown = _extras("", settings) + [
        name for name in NOT_YET if getattr(settings, name) not in (None, False, {}, [])
    ]
    warnings += compat_warnings + do_warnings + sidecar_warnings
    warnings += unsafe_warnings + consumer_warnings + unsupported_warnings
    warnings += [f"{path}: {name} is not supported yet and is ignored" for name in unknown]
    worker = Worker(
        name=settings.name,
        crons=_crons(settings, path),
        queue_consumers=consumers,
        modules=collect_modules(main, base_dir, settings.rules or []),
        compatibility_date=compat,
        compatibility_flags=settings.compatibility_flags or [],
        bindings=bindings + sidecar + _version_metadata(settings),
        durable_objects=classes,
        assets=_assets(settings, path),
        bundling=bundle_settings(config, settings, path),
    )
    inputs = [path, path.parent / SIDECAR_NAME, *secret_files]
    inputs += watched_files(build) if build is not None else []
    return ImportedWorker(
        worker=worker,
        warnings=warnings,
        secrets=secrets,
        inputs=inputs,
        unsupported=unsupported,
    )
