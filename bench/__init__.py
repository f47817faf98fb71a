"""`make bench`: the same Worker on groundflare and on Miniflare, per-call latency side by side.

A benchmark, not a test: it measures and prints, and fails only if a backend cannot start or a
route answers with an error.
"""
