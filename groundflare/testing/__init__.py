"""Run a groundflare stack from Python: for integration tests and benchmarks.

    with running_stack([Path("wrangler.toml")], data_dir) as stack:
        urllib.request.urlopen(stack.url)

The stack is a real `groundflare serve` subprocess, started and stopped exactly as a
desktop host or CI harness would. The pytest plugin (groundflare.testing.plugin, loaded
through the `pytest11` entry point) builds its fixtures on it (docs/testing.md).
"""

from groundflare.testing.process import (
    START_TIMEOUT_SECONDS,
    RunningStack,
    StackFailed,
    running_stack,
    serve_command,
    start_stack,
)

__all__ = [
    "START_TIMEOUT_SECONDS",
    "RunningStack",
    "StackFailed",
    "running_stack",
    "serve_command",
    "start_stack",
]
