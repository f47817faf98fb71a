"""What one frontend may cost the proxy: head size, timeouts, pipelining, connections.

Anyone on the machine can reach the loopback listener before authenticating, so
each of these bounds work that an unauthenticated client can make the proxy do.
The module constants are the defaults; tests lower them with the hidden
`--limits` flag (a JSON object of `Limits` fields), never production.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt

# A request head (request line, headers) or a chunked body's trailers: 431 beyond.
HEAD_BYTES = 64 << 10
# From a head's first byte to its end: then 408 and a close.
HEADER_SECONDS = 10.0
# A connection with nothing in flight (before its first request, between requests).
IDLE_SECONDS = 60.0
# Requests parsed ahead of the one being answered: reading stops at this many waiting.
# llhttp cannot stop inside a read, so one read may add more, up to twice this many
# requests; the first beyond gets 503 and a close.
PIPELINE = 32
# Frontend connections at once, tunnels included: beyond, a 503 and a close.
CONNECTIONS = 512
# How often deadlines are checked, at most.
TICK_SECONDS = 1.0


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    head_bytes: PositiveInt = HEAD_BYTES
    header_seconds: PositiveFloat = HEADER_SECONDS
    idle_seconds: PositiveFloat = IDLE_SECONDS
    pipeline: PositiveInt = PIPELINE
    connections: PositiveInt = CONNECTIONS

    @property
    def per_read(self) -> int:
        """Requests one read may carry."""
        return 2 * self.pipeline

    @property
    def tick(self) -> float:
        """Deadline checks often enough that a timeout fires within a quarter of itself."""
        return min(TICK_SECONDS, self.header_seconds / 4, self.idle_seconds / 4)
