"""The stdout contract: one JSON event per line, flushed; nothing else goes to stdout.

The events themselves are contracts/events.py; this is the one place that writes them.
"""

from __future__ import annotations

import sys

from groundflare.contracts.events import Event


def emit(event: Event) -> None:
    sys.stdout.write(event.model_dump_json(by_alias=True) + "\n")
    sys.stdout.flush()
