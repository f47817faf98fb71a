"""What the supervisor tells the shim: where to listen and which resources exist."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from workerd_config.model import D1Database, KvNamespace, R2Bucket


class ShimSecrets(BaseModel):
    """What the supervisor hands the shim over its secrets pipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # workerd's per-boot token on every binding request.
    token: str
    # The REST listener's bearer token.
    api_token: str


class ShimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    socket: Path
    data_dir: Path
    d1: list[D1Database] = []
    kv: list[KvNamespace] = []
    r2: list[R2Bucket] = []
    # Tests may move the shim's clock forward (POST /_groundflare/clock); never in production use.
    test_clock: bool = False

    @property
    def runtime_json(self) -> Path:
        return self.socket.parent / "runtime.json"

    @property
    def d1_dir(self) -> Path:
        return self.data_dir / "d1"

    @property
    def kv_dir(self) -> Path:
        return self.data_dir / "kv"

    @property
    def r2_dir(self) -> Path:
        return self.data_dir / "r2"
