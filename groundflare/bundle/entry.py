"""The frozen executable's entry point: the CLI, or one of the supervisor's children.

The supervisor starts the shim and the sandbox proxy as `python -I -u -m MODULE`; a frozen
bundle has no interpreter to run, so it starts its own executable with `CHILD_COMMAND MODULE`
instead (groundflare/stack/processes.py), and this dispatches to that module's `main()`.
"""

from __future__ import annotations

import importlib
import sys

CHILD_COMMAND = "__child__"
# Only these run as children; anything else after CHILD_COMMAND is refused.
CHILD_MODULES = ("groundflare.shim", "groundflare.proxy")


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == CHILD_COMMAND:
        module = sys.argv[2]
        if module not in CHILD_MODULES:
            sys.exit(f"groundflare: {module} is not a groundflare child process")
        # What `python -u` does: a child's log lines reach the supervisor as they are written.
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(write_through=True)  # type: ignore[union-attr]
        sys.argv = [f"python -m {module}", *sys.argv[3:]]
        importlib.import_module(f"{module}.__main__").main()
        return
    from groundflare.cli import main as cli

    cli()
