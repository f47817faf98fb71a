"""The stack's Cache API store, as the config side and the shim both name it (docs/cache.md)."""

from __future__ import annotations

from groundflare.contracts.resources import ResourceSpec

CACHE_KIND = "cache"
# One cache for the whole stack, as one zone has one: caches.open(name) are namespaces in it.
CACHE_RESOURCE = ResourceSpec(kind=CACHE_KIND, id="default", name="default")
# workerd puts the request's `cf` object here (its external service's `cfBlobHeader`).
CF_BLOB_HEADER = "x-groundflare-cf"
# workerd's header naming caches.open(name)'s cache.
NAMESPACE_HEADER = "cf-cache-namespace"
