"""The stdout contract: one JSON event per line, flushed; nothing else goes to stdout.

The events themselves are contracts/events.py; this is the one place that writes them.
"""

from __future__ import annotations

import os
import sys

from groundflare.contracts.events import Event


def emit(event: Event) -> None:
    """Write one event; when the reader is gone (a sidecar host that died), later events
    and the interpreter's final flush go nowhere instead of failing the stop."""
    try:
        sys.stdout.write(event.model_dump_json(by_alias=True) + "\n")
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
