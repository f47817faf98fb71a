"""Rate limits: [[ratelimits]] counters per namespace_id (docs/ratelimit.md)."""
