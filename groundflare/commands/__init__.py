"""The `groundflare` subcommands, one module per group."""
