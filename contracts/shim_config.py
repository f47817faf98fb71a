"""What the supervisor tells the shim: where to listen, what to serve, which kinds to load."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from groundflare.contracts.d1_migrations import MigrationsSource
from groundflare.contracts.queues import QueueConsumer
from groundflare.contracts.resources import ResourceSpec
from groundflare.contracts.traces import TraceSettings


class CronTrigger(BaseModel):
    """One `[triggers] crons` entry of one Worker: the shim fires it through the door."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    worker: str
    cron: str


class ShimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    socket: Path
    data_dir: Path
    resources: list[ResourceSpec] = []
    crons: list[CronTrigger] = []
    # The stack's queue consumers: the shim delivers their batches through the door.
    queue_consumers: list[QueueConsumer] = []
    # The stack's door into its Workers (contracts/door.py); its token comes in ShimSecrets.
    door_socket: Path | None = None
    # Binding kinds beyond the built-in ones, as `path/to/kind.py` or `package.module`
    # (docs/architecture.md): the shim loads them as the supervisor did.
    plugins: list[str] = []
    # Tests may move the shim's clock forward (POST /_groundflare/clock); never in production use.
    test_clock: bool = False
    # The request log (contracts/traces.py); None: invocations are not recorded.
    traces: TraceSettings | None = None
    # Where the stack's Workers keep their D1 databases' migrations (the explorer applies them).
    d1_migrations: list[MigrationsSource] = []

    @property
    def runtime_json(self) -> Path:
        return self.socket.parent / "runtime.json"


class ShimSecrets(BaseModel):
    """What the supervisor hands the shim over its secrets pipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # workerd's per-boot token on every binding request.
    token: str
    # The REST listener's bearer token.
    api_token: str
    # The door's token (contracts/door.py), for cron triggers and queue consumers.
    door_token: str
    # R2's S3 API on the REST listener: the SigV4 credentials clients sign with.
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
