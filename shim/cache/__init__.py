"""The Cache API: caches.default and caches.open(name), kept in the data dir (docs/cache.md)."""
