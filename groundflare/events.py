"""The stdout contract: one JSON object per line, flushed; nothing else goes to stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel


class ReadyEvent(BaseModel):
    event: str = "ready"
    url: str
    workers: dict[str, str]
    sandbox: str | None = None
    surface_token: str | None = None
    api: str | None = None
    pid: int
    data_dir: str


def emit(event: BaseModel | dict[str, Any]) -> None:
    payload = event.model_dump() if isinstance(event, BaseModel) else event
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()
