"""The parts of a wrangler config the binding kinds and the queue consumers read, and every
binding field groundflare cannot provide, named so that no binding disappears silently.

A kind reads its own array (`[[kv_namespaces]]`), a nested one (`[[queues.producers]]`),
and the `[[unsafe.bindings]]` entries of its `unsafe_type` (a rate limiter's is
`ratelimit`). Any other binding becomes a warning naming what `env.NAME` the Worker will
miss; `groundflare config check` makes it an error when the code reads that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from groundflare.contracts.queues import QueueConsumer
from groundflare.workerd_config.kinds import ConfigKind
from groundflare.workerd_config.model import BindingModel, Stack
from groundflare.workerd_config.wrangler_schema import WorkerSettings

# Binding fields production has and groundflare cannot provide, and what each is; each
# entry (one table, `[ai]`, or an array of them, `[[vectorize]]`) names its binding.
UNSUPPORTED: dict[str, str] = {
    "ai": "Workers AI",
    "browser": "Browser Rendering",
    "images": "Images",
    "vectorize": "Vectorize",
    "mtls_certificates": "mTLS certificates",
    "dispatch_namespaces": "Workers for Platforms dispatch namespaces",
    "workflows": "Workflows",
    "pipelines": "Pipelines",
}
# Fields that declare no binding but something production runs for the Worker.
NOT_RUN: dict[str, str] = {
    "tail_consumers": "Tail Workers are not run locally: the tail events of this Worker go nowhere",
    "containers": "Containers are not run locally: their Durable Object classes cannot start one",
}

# Top-level fields this module names in its own warnings, not the loader's "ignored" ones.
NAMED_ELSEWHERE = frozenset(UNSUPPORTED) | frozenset(NOT_RUN)


class EntryError(ValueError):
    """An entry a kind refused; `where` is its dotted place, `errors` pydantic's."""

    def __init__(self, where: str, exc: ValidationError) -> None:
        problems = [
            f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
        super().__init__("; ".join(problems))


def entries(settings: BaseModel, field: str) -> list[Any]:
    """The entries at a (dotted) wrangler field, or none."""
    value: Any = settings
    for part in field.split("."):
        value = getattr(value, part, None)
        if value is None:
            return []
    return list(value)


def kind_bindings(
    settings: WorkerSettings, kinds: Sequence[ConfigKind], path: Path
) -> tuple[list[BindingModel], list[str]]:
    """The bindings every shim-served kind reads, and a warning per unsafe binding no kind
    reads. EntryError when an unsafe entry does not fit its kind."""
    bindings = [
        kind.binding(entry)
        for kind in kinds
        if kind.wrangler_field
        for entry in entries(settings, kind.wrangler_field)
    ]
    by_type = {kind.unsafe_type: kind for kind in kinds if kind.unsafe_type}
    warnings = []
    unsafe = settings.unsafe.bindings if settings.unsafe else []
    for index, entry in enumerate(unsafe):
        kind = by_type.get(entry.type)
        if kind is None:
            warnings.append(
                f"{path}: unsafe.bindings[{index}]: type {entry.type!r} is not supported "
                f"locally; env.{entry.name} will be undefined in the Worker"
            )
            continue
        fields = {k: v for k, v in entry.model_dump().items() if k != "type"}
        try:
            parsed = kind.entry.model_validate(fields)
        except ValidationError as exc:
            raise EntryError(f"unsafe.bindings.{index}", exc) from exc
        bindings.append(kind.binding(parsed))
    return bindings, warnings


def queue_consumers(
    settings: WorkerSettings, worker: str, path: Path
) -> tuple[list[QueueConsumer], list[str]]:
    consumers, warnings = [], []
    for index, entry in enumerate(settings.queues.consumers if settings.queues else []):
        if entry.type == "http_pull":
            warnings.append(
                f'{path}: queues.consumers[{index}]: pull consumers (type = "http_pull") '
                f"are not supported locally; messages sent to {entry.queue} stay queued"
            )
            continue
        fields = entry.model_dump(exclude={"type", "visibility_timeout_ms"}, exclude_unset=True)
        consumers.append(
            QueueConsumer.model_validate(
                {k: v for k, v in fields.items() if k in QueueConsumer.model_fields}
                | {"worker": worker}
            )
        )
    return consumers, warnings


def one_consumer_per_queue(stack: Stack) -> None:
    """ValueError naming a queue two consumers read: production gives a queue one."""
    seen: dict[str, str] = {}
    for consumer in stack.queue_consumers():
        if consumer.queue in seen:
            raise ValueError(
                f"queue {consumer.queue!r} has two consumers ({seen[consumer.queue]} and "
                f"{consumer.worker}); a queue has one consumer, as in production"
            )
        seen[consumer.queue] = consumer.worker


def _binding_names(value: Any) -> list[str]:
    found = []
    for item in value if isinstance(value, list) else [value]:
        extra = item.model_extra if isinstance(item, BaseModel) else item
        if isinstance(extra, dict):
            name = extra.get("binding") or extra.get("name") or extra.get("service")
            if isinstance(name, str):
                found.append(name)
    return found


def unsupported_bindings(settings: WorkerSettings, path: Path) -> tuple[dict[str, str], list[str]]:
    """The env names of bindings groundflare cannot provide (name -> what it is) and one
    warning each; the fields are taken out of the "ignored" warnings."""
    extra = settings.model_extra or {}
    missing: dict[str, str] = {}
    warnings = []
    for field, what in UNSUPPORTED.items():
        if field not in extra or extra[field] in (None, [], {}):
            continue
        names = _binding_names(extra[field])
        for name in names:
            missing[name] = what
        targets = ", ".join(f"env.{name}" for name in names) or "its binding"
        warnings.append(
            f"{path}: {field}: {what} is not available locally; {targets} will be undefined "
            "in the Worker"
        )
    for field, consequence in NOT_RUN.items():
        if extra.get(field) not in (None, [], {}):
            warnings.append(f"{path}: {field}: {consequence}")
    return missing, warnings
