"""What a child tells the supervisor on its control fd, one JSON object per line.

workerd writes `{"event":"listen","socket":NAME,"port":N}` per socket; the shim and the
sandbox proxy write the same `listen` line once they serve. A child that refuses to
start for a reason it can name (a corrupt database, a full disk) says so with a
`refused` line first, so the supervisor reports its class instead of guessing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from groundflare.contracts.failures import FailureClass


class ListenEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: Literal["listen"] = "listen"
    socket: str


class RefusedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    event: Literal["refused"] = "refused"
    failure: FailureClass = Field(alias="class")
    reason: str

    def line(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode("utf-8") + b"\n"
