"""Where Workers' own `fetch()` and `connect()` may go: every user Worker's globalOutbound.

workerd's implicit `internet` service allows public addresses only, so a Worker could
not reach a service on 127.0.0.1 or the LAN; Miniflare allows public and private
(cloudflare/miniflare#412). groundflare does the same by default and lets `--outbound`
(or the profile's `outbound`) narrow it. Between the Workers and the network sits a
small Worker (assets/outbound.js) that turns workerd's `internal error` for a refused
address into production's fetch error and logs the address with the rule that refused
it; `connect()` passes through it untouched (workerd's `connect_pass_through`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from groundflare.workerd_config.model import Module, OutboundPolicy, RenderContext, Stack

OUTBOUND_POLICIES: tuple[OutboundPolicy, ...] = ("public", "private", "all")
DEFAULT_OUTBOUND: OutboundPolicy = "all"

NETWORK_SERVICE = "groundflare-network"
OUTBOUND_SERVICE = "groundflare-outbound"
OUTBOUND_WORKER = Path(__file__).resolve().parent / "assets" / "outbound.js"
# Miniflare's list: `private` includes loopback (`local`); 240.0.0.0/4 is reserved space
# some VPNs and container networks use.
_ALLOW_ALL = ["public", "private", "240.0.0.0/4"]
NETWORK_RULES: dict[OutboundPolicy, dict[str, list[str]]] = {
    "all": {"allow": _ALLOW_ALL, "deny": []},
    "private": {"allow": _ALLOW_ALL, "deny": ["local"]},
    "public": {"allow": ["public"], "deny": []},
}
RULE_TEXT: dict[OutboundPolicy, str] = {
    "all": "--outbound all allows public, private and loopback addresses",
    "private": "--outbound private allows public and private-network addresses, not loopback",
    "public": "--outbound public allows public addresses only",
}


def outbound_services(stack: Stack, ctx: RenderContext) -> list[dict[str, Any]]:
    """The network service with the stack's rule, and the Worker in front of it."""
    policy = stack.outbound
    network = {
        "name": NETWORK_SERVICE,
        "network": {**NETWORK_RULES[policy], "tlsOptions": {"trustBrowserCas": True}},
    }
    worker = {
        "compatibilityDate": stack.workers[0].compatibility_date.isoformat(),
        # connect() from a Worker goes on to the network service as it is.
        "compatibilityFlags": ["connect_pass_through"],
        "modules": [Module(name="outbound.js", path=OUTBOUND_WORKER).capnp(ctx)],
        "bindings": [
            {"name": "RULE", "json": json.dumps({"policy": policy, "text": RULE_TEXT[policy]})}
        ],
        "globalOutbound": NETWORK_SERVICE,
    }
    return [network, {"name": OUTBOUND_SERVICE, "worker": worker}]
