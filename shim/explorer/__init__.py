"""The explorer: a local web UI for a stack's data and its request log (docs/explorer.md)."""
