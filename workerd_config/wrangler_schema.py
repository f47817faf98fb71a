"""The parts of wrangler.toml / wrangler.jsonc groundflare reads, as wrangler spells them.

Sections keep unknown fields (`extra="allow"`) so the loader can name every one
it ignores in a warning instead of dropping it silently.
"""

from __future__ import annotations

from datetime import date, time
from functools import cache
from typing import Annotated, Any, Literal, Optional, cast, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

BINDING_NAME = r"^[A-Za-z_$][A-Za-z0-9_$]*$"
WORKER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


def _printable_ascii(value: str) -> str:
    """Resource ids and names travel in HTTP headers and file names on every call: refused
    here, at load, rather than failing each call later."""
    if not value or not all(" " <= char <= "~" for char in value):
        raise ValueError(
            f"{value!r} must be non-empty printable ASCII (no control characters such as "
            "newline or NUL, no letters outside ASCII)"
        )
    return value


ResourceName = Annotated[str, AfterValidator(_printable_ascii)]


def _no_toml_dates(value: Any, where: str = "") -> Any:
    """TOML reads `WHEN = 2026-01-01` as a date, which no binding can carry: wrangler asks
    for quotes, and so do we."""
    if isinstance(value, date | time):
        raise ValueError(
            f"{where or 'the value'} is a TOML {type(value).__name__}, not a string: quote it, "
            f'as wrangler asks (e.g. "{value.isoformat()}")'
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _no_toml_dates(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_toml_dates(item, f"{where}[{index}]")
    return value


Vars = Annotated[dict[str, Any], AfterValidator(_no_toml_dates)]


class Section(BaseModel):
    # Built when first validated: the shim imports every kind's entry model and never
    # validates one (start time).
    model_config = ConfigDict(extra="allow", defer_build=True)


class DurableObjectEntry(Section):
    name: str = Field(pattern=BINDING_NAME)
    class_name: str
    script_name: str | None = None
    environment: str | None = None


class DurableObjects(Section):
    bindings: list[DurableObjectEntry] = []


class RenamedClass(Section):
    from_: str = Field(alias="from")
    to: str


class TransferredClass(Section):
    from_: str = Field(alias="from")
    from_script: str
    to: str


class Migration(Section):
    tag: str
    new_classes: list[str] = []
    new_sqlite_classes: list[str] = []
    renamed_classes: list[RenamedClass] = []
    deleted_classes: list[str] = []
    transferred_classes: list[TransferredClass] = []


class ServiceEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    service: str
    entrypoint: str | None = None
    environment: str | None = None


ModuleRuleType = Literal["ESModule", "CommonJS", "CompiledWasm", "Text", "Data", "PythonModule"]


class ModuleRule(Section):
    type: ModuleRuleType
    globs: list[str]
    # Unset and false differ: wrangler warns about the rules a rule ends unless it is false.
    fallthrough: bool | None = None


class Assets(Section):
    directory: str
    binding: str | None = Field(default=None, pattern=BINDING_NAME)
    html_handling: Literal[
        "auto-trailing-slash", "force-trailing-slash", "drop-trailing-slash", "none"
    ] = "auto-trailing-slash"
    not_found_handling: Literal["single-page-application", "404-page", "none"] = "none"
    run_worker_first: bool | list[str] = False


class Triggers(Section):
    crons: list[str] = []


class Build(Section):
    """[build]: a command wrangler runs before bundling (`watch_dir`: what dev watches)."""

    command: str | None = None
    cwd: str | None = None
    watch_dir: str | list[str] = "./src"


class VersionMetadata(Section):
    binding: str = Field(pattern=BINDING_NAME)


class QueueConsumerEntry(Section):
    """One `[[queues.consumers]]` entry, with production's defaults and limits
    (contracts/queues.py)."""

    queue: ResourceName
    type: Literal["worker", "http_pull"] = "worker"
    max_batch_size: int = Field(default=10, ge=1, le=100)
    max_batch_timeout: float = Field(default=5, ge=0, le=60)
    max_retries: int = Field(default=3, ge=0, le=100)
    retry_delay: int = Field(default=0, ge=0, le=86_400)
    dead_letter_queue: ResourceName | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=250)
    visibility_timeout_ms: int | None = None


class Queues(Section):
    """`[queues]`; its `producers` are the queue binding kind's (shim/queues/kind.py)."""

    consumers: list[QueueConsumerEntry] = []


class UnsafeBinding(Section):
    """One `[[unsafe.bindings]]` entry: read by the binding kind whose `unsafe_type` is its
    `type` (a rate limiter's is "ratelimit"), warned about otherwise."""

    name: str = Field(pattern=BINDING_NAME)
    type: str


class Unsafe(Section):
    bindings: list[UnsafeBinding] = []


class HyperdriveEntry(Section):
    binding: str = Field(pattern=BINDING_NAME)
    id: str = ""
    localConnectionString: str | None = None  # noqa: N815 (wrangler's spelling)


class WorkerSettings(Section):
    """Everything a top-level config and an `[env.<name>]` section may both carry."""

    name: str | None = Field(default=None, pattern=WORKER_NAME)
    main: str | None = None
    compatibility_date: date | None = None
    compatibility_flags: list[str] | None = None
    vars: Vars | None = None
    durable_objects: DurableObjects | None = None
    migrations: list[Migration] | None = None
    services: list[ServiceEntry] | None = None
    rules: list[ModuleRule] | None = None
    find_additional_modules: bool | None = None
    base_dir: str | None = None
    no_bundle: bool | None = None
    minify: bool | None = None
    define: dict[str, str] | None = None
    assets: Assets | None = None
    triggers: Triggers | None = None
    build: Build | None = None
    keep_names: bool | None = None
    tsconfig: str | None = None
    jsx_factory: str | None = None
    jsx_fragment: str | None = None
    version_metadata: VersionMetadata | None = None
    queues: Queues | None = None
    unsafe: Unsafe | None = None
    hyperdrive: list[HyperdriveEntry] | None = None


class WranglerFile(WorkerSettings):
    env: dict[str, WorkerSettings] = {}
    # Top level only, as in wrangler: import specifiers replaced while bundling.
    alias: dict[str, str] | None = None


@cache
def settings_models(
    kinds: tuple[tuple[str, type[BaseModel]], ...],
) -> tuple[type[WorkerSettings], type[WranglerFile]]:
    """WorkerSettings and WranglerFile with one `list[entry] | None` field per binding kind
    (`(wrangler_field, entry)` pairs): each kind brings its own part of the schema. A dotted
    field (`queues.producers`) extends the section its first part names; an empty one
    (a kind wrangler.toml does not declare, such as the cache) adds nothing."""
    fields: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for field, entry in kinds:
        head, _, rest = field.partition(".")
        entries = (Optional[list[entry]], None)  # type: ignore[valid-type]  # noqa: UP045
        if rest:
            nested.setdefault(head, {})[rest] = entries
        elif field:
            fields[field] = entries
    for head, parts in nested.items():
        base = WorkerSettings.model_fields[head].annotation
        section = next(arg for arg in get_args(base) if arg is not type(None))
        extended = create_model(f"Kind{section.__name__}", __base__=section, **parts)
        fields[head] = (Optional[extended], None)  # noqa: UP045
    settings = create_model("KindSettings", __base__=WorkerSettings, **fields)
    # Shaped as WranglerFile (the settings plus `env` and `alias`), with the kinds' fields at
    # both levels.
    file = create_model(
        "KindWranglerFile",
        __base__=settings,
        env=(dict[str, settings], {}),
        alias=(Optional[dict[str, str]], None),  # noqa: UP045
    )
    return settings, cast(type[WranglerFile], file)


# wrangler's rules: an [env.X] section inherits these from the top level; every other
# field (vars and all bindings) must be restated in the environment, or it is empty.
INHERITABLE = frozenset(
    {
        "name",
        "main",
        "compatibility_date",
        "compatibility_flags",
        "migrations",
        "rules",
        "find_additional_modules",
        "base_dir",
        "no_bundle",
        "minify",
        "assets",
        "triggers",
        "build",
        "keep_names",
        "tsconfig",
        "jsx_factory",
        "jsx_fragment",
    }
)
# Fields that have no local meaning: accepted without a warning.
IGNORED_QUIETLY = frozenset(
    {
        "$schema",
        "account_id",
        "workers_dev",
        "preview_urls",
        "route",
        "routes",
        "upload_source_maps",
        "observability",
        "placement",
        # workerd enforces no CPU or subrequest limits locally, as under wrangler dev.
        "limits",
        # wrangler dev's own settings (ip, port, protocols); serve/dev options decide here.
        "dev",
        "logpush",
        "keep_vars",
        "send_metrics",
    }
)
