"""run/runtime.json: how other tools discover the running stack."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from groundflare.paths import write_private


class ComponentState(BaseModel):
    pid: int | None
    state: str


class Runtime(BaseModel):
    pid: int
    components: dict[str, ComponentState]
    endpoints: dict[str, str]

    def write(self, path: Path) -> None:
        write_private(path, self.model_dump_json(indent=2).encode("utf-8"))
