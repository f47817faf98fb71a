"""The Cache API store: not declared in wrangler.toml (every Worker has `caches`), served to
workerd's `cacheApiOutbound` (workerd_config/cache.py); one per stack, `cache/default/`.

Its store and handlers are imported in `serve()`, on first use: every start of the shim and
the supervisor imports every kind, most of them unused."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import NoReturn

from groundflare.contracts.cache import CACHE_KIND
from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Kind, Served
from groundflare.workerd_config.wrangler_schema import Section


class NoEntry(Section):
    """The cache has no wrangler entry."""


class CacheKind(Kind):
    name = CACHE_KIND
    wrangler_field = ""
    entry = NoEntry
    folder = "cache"

    def binding(self, entry: NoEntry) -> NoReturn:
        raise NotImplementedError("the cache is not declared in wrangler.toml")

    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        from groundflare.shim.cache import binding
        from groundflare.shim.cache.store import CacheStore

        store = CacheStore(self.location(spec, folder))
        handlers = {spec.tag: partial(binding.handle, store, clock)}
        return Served(resource=store, handlers=handlers, file=store.path, what="cache index")

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        return folder / file_part(spec.id)


KIND = CacheKind()
