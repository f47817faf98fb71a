"""What the supervisor tells the shim: where to listen and which resources exist."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from workerd_config.model import D1Database

TOKEN_ENV = "GROUNDFLARE_SHIM_TOKEN"


class ShimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    socket: Path
    data_dir: Path
    d1: list[D1Database] = []

    @property
    def d1_dir(self) -> Path:
        return self.data_dir / "d1"
