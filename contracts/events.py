"""The stdout contract of `groundflare serve`: JSON events, one per line, nothing else.

A desktop host or a test harness reads these; `contracts/events.schema.json` is
generated from these models (`groundflare events-schema`) and tested against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from groundflare.contracts.failures import FailureClass


class Event(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class ReadyEvent(Event):
    """Once, when every component is ready."""

    event: Literal["ready"] = "ready"
    # The first Worker's URL.
    url: str
    workers: dict[str, str]
    sandbox: str | None = None
    surface_token: str | None = None
    api: str | None = None
    pid: int
    data_dir: str


class RestartedEvent(Event):
    """A component exited unexpectedly and is running again (its ports did not change)."""

    event: Literal["restarted"] = "restarted"
    component: str
    pid: int | None
    restarts: int


class ReloadedEvent(Event):
    """`dev` replaced a component after a change (its ports did not change)."""

    event: Literal["reloaded"] = "reloaded"
    component: str
    pid: int | None


class FatalEvent(Event):
    """The stack could not start, or a component kept failing: serve exits non-zero."""

    event: Literal["fatal"] = "fatal"
    component: str
    failure: FailureClass = Field(alias="class")
    reason: str
    advice: str


class StoppedEvent(Event):
    """A clean stop (SIGTERM, SIGINT, stdin closed): serve exits 0."""

    event: Literal["stopped"] = "stopped"


StdoutEvent = Annotated[
    ReadyEvent | RestartedEvent | ReloadedEvent | FatalEvent | StoppedEvent,
    Field(discriminator="event"),
]
STDOUT_EVENT: TypeAdapter[Any] = TypeAdapter(StdoutEvent)


def events_schema() -> dict[str, Any]:
    return {
        "title": "groundflare serve stdout event",
        **STDOUT_EVENT.json_schema(by_alias=True, mode="serialization"),
    }
