"""A resource the shim serves (a D1 database, a KV namespace, an R2 bucket, ...), and how
workerd tags its requests for it.

workerd's bindings never name the resource in the URL, so each resource gets its
own `external` service whose `injectRequestHeaders` carry the resource tag and the
per-boot token the shim checks.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

RESOURCE_HEADER = "x-groundflare-resource"
TOKEN_HEADER = "x-groundflare-token"


class ResourceSpec(BaseModel):
    """One resource: its binding kind (a registry name), the id bindings reach it by, and a
    human name where the kind has one (a D1 database's `database_name`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    id: str
    name: str = ""

    @property
    def tag(self) -> str:
        return resource_tag(self.kind, self.id)


def resource_tag(kind: str, resource_id: str) -> str:
    return f"{kind}:{resource_id}"


def service_name(kind: str, resource_id: str) -> str:
    """The workerd service that reaches the shim for this resource."""
    return f"shim-{kind}-{resource_id}"
