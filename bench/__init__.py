"""`make bench`: the same Workers on groundflare and on Miniflare, side by side.

Sections (bench/__main__.py): D1, KV, R2, Durable Objects and cold start against Miniflare;
the sandbox proxy against a direct connection; the microVM's boot. A benchmark, not a test:
it measures and prints, and fails only if a backend cannot start or a route answers with an
error.
"""
