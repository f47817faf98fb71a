"""Names the supervisor and the sandbox proxy agree on.

Kept apart from the proxy so that `groundflare serve` can pass the tokens and
name the headers without importing the proxy's HTTP machinery.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SURFACE_HEADER = "X-Groundflare-Surface"
SANDBOX_HEADER = "X-Groundflare-Sandbox"


class ProxySecrets(BaseModel):
    """What the supervisor hands the proxy over its secrets pipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The frontend presents this one.
    surface_token: str
    # The sandbox checks this one; the proxy swaps it in.
    sandbox_token: str


def parse_host_port(value: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets); ValueError says what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)
