"""The request log and traces: every Worker invocation, its console lines, exceptions and
binding calls (docs/explorer.md)."""
