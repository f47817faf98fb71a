"""Queues as every layer sees them: the resource kind, production's limits and defaults, and
one consumer of one queue (what the supervisor tells the shim to deliver)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from groundflare.contracts.resources import ResourceSpec

QUEUE_KIND = "queue"

# Production's limits (developers.cloudflare.com/queues/platform/limits/; 1 KB = 1000 bytes).
MAX_MESSAGE_BYTES = 128_000
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 256_000
# `delaySeconds` when sending or retrying, `delivery_delay` and `retry_delay`: 24 hours
# (the limits page and error 10202 say so; it read 12 hours before).
MAX_DELAY_SECONDS = 86_400
MAX_RETRIES = 100
MAX_BATCH_TIMEOUT_SECONDS = 60
MAX_CONCURRENCY = 250
# Messages older than this are deleted unconsumed (production's default retention, 4 days).
RETENTION_SECONDS = 4 * 24 * 3600


class QueueConsumer(BaseModel):
    """One `[[queues.consumers]]` entry of one Worker, with production's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    worker: str
    queue: str
    max_batch_size: int = Field(default=10, ge=1, le=MAX_BATCH_MESSAGES)
    max_batch_timeout: float = Field(default=5, ge=0, le=MAX_BATCH_TIMEOUT_SECONDS)
    max_retries: int = Field(default=3, ge=0, le=MAX_RETRIES)
    retry_delay: int = Field(default=0, ge=0, le=MAX_DELAY_SECONDS)
    dead_letter_queue: str | None = None
    # None: production's autoscaling, up to MAX_CONCURRENCY batches at once.
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)


def queue_resource(name: str) -> ResourceSpec:
    """The shim resource of the queue `name` (queues are reached by their name)."""
    return ResourceSpec(kind=QUEUE_KIND, id=name, name=name)
