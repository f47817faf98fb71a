"""How workerd tags requests for the shim: one external service per resource.

workerd's KV/R2/D1 bindings never name the resource in the URL, so each
resource gets its own `external` service whose `injectRequestHeaders` carry
the resource tag and the per-boot token the shim checks.
"""

from __future__ import annotations

from typing import Literal

RESOURCE_HEADER = "x-groundflare-resource"
TOKEN_HEADER = "x-groundflare-token"

ResourceKind = Literal["d1", "d1-http", "kv", "r2"]


def resource_tag(kind: ResourceKind, resource_id: str) -> str:
    return f"{kind}:{resource_id}"


def service_name(kind: ResourceKind, resource_id: str) -> str:
    return f"shim-{kind}-{resource_id}"
