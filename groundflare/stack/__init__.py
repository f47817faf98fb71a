"""One running stack: its files and sockets, one module per component, and its lifecycle.

`lifecycle.run` is what `groundflare serve` and `groundflare dev` call; `dev`
adds its reloader and status table through `Options.addon`, so this package
never imports the developer tooling.
"""
