"""One recorded invocation, as the store keeps it and the explorer shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SpanRecord:
    """One binding call made during an invocation."""

    name: str  # `d1.query`, `kv.get`, `r2.put`, `fetch`
    resource: str  # the resource's tag (`d1:<id>`), or the URL of a subrequest
    started: float  # unix seconds
    duration_ms: float
    status: int
    # The call fell inside another invocation's time too (concurrent invocations of Workers
    # binding the same resource): the shim cannot tell which of them made it.
    shared: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class LogRecord:
    at: float  # unix seconds
    level: str  # log, info, debug, warn, error; `exception` for an uncaught one
    message: str
    stack: str | None = None


@dataclass
class InvocationRecord:
    worker: str
    type: str  # fetch, scheduled, queue, alarm, websocket, email, rpc, other
    started: float
    ended: float
    outcome: str  # ok, exception, canceled, exceededCpu, ... (workerd's)
    status: int | None = None  # a fetch's response status
    method: str | None = None
    url: str | None = None
    trigger: str | None = None  # a cron expression, a queue name, an RPC method
    execution_model: str = "stateless"  # or durableObject
    event: dict[str, Any] = field(default_factory=dict)
    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    spans_dropped: int = 0
    id: int | None = None  # assigned by the store

    @property
    def duration_ms(self) -> float:
        return max(0.0, (self.ended - self.started) * 1000)
