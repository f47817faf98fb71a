"""The request log and traces (docs/explorer.md): what the supervisor tells the shim about
them, and how the tail Worker reaches it.

Every user Worker names one internal tail Worker (workerd_config/assets/tail.js) in its
`tails`; workerd hands it each finished invocation (its event, outcome, `console.*` lines
and uncaught exceptions) and it posts them to the shim as the resource `traces:local`. The
shim adds a span for each binding call it served during the invocation.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

TRACES_KIND = "traces"
TRACES_ID = "local"
# The tail Worker is told which Worker it hears from in its props, under this key, and
# names it to the shim in this header.
WORKER_PROP = "worker"
WORKER_HEADER = "x-groundflare-worker"


def durable_object_tag(worker: str, class_name: str) -> str:
    """What a Durable Object's invocations are claimed as by the Workers that call it."""
    return f"do:{worker}:{class_name}"


class TracedWorker(BaseModel):
    """One Worker whose invocations are recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    # The tags of the shim resources it binds (`d1:<id>`, `kv:<id>`) and of the Durable
    # Object classes it calls (`durable_object_tag`): the calls made during one of its
    # invocations are that invocation's spans.
    resources: list[str] = []
    # Its modules by the name workerd knows them (stack traces name them), to the file
    # that holds them; a bundled module has a source map beside it (`<file>.map`).
    modules: dict[str, Path] = {}


class TraceRetention(BaseModel):
    """How much of the log is kept: the oldest invocations go first past either bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_age_hours: float = Field(24.0, gt=0, description="Invocations older than this go.")
    max_mb: int = Field(64, ge=1, description="The log's file is kept under this size.")


class TraceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    retention: TraceRetention = TraceRetention()
    workers: list[TracedWorker] = []
