"""Durable Objects' storage from outside the Worker: the v4 API's namespaces and objects,
and SQL against an object's SQLite storage (docs/explorer.md)."""
