"""Names the supervisor and the sandbox proxy agree on.

Kept apart from the proxy so that `groundflare serve` can pass the tokens and
name the headers without importing the proxy's HTTP machinery.
"""

from __future__ import annotations

SURFACE_HEADER = "X-Groundflare-Surface"
SANDBOX_HEADER = "X-Groundflare-Sandbox"
SURFACE_TOKEN_ENV = "GROUNDFLARE_SURFACE_TOKEN"
SANDBOX_TOKEN_ENV = "GROUNDFLARE_SANDBOX_TOKEN"
