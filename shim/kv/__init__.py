"""Workers KV: namespaces served to workerd's kvNamespace binding (specs/kv.md)."""
