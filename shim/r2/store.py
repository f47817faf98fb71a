"""(in progress) The R2 store: an apsw index plus blob files under its root."""

from __future__ import annotations

from pathlib import Path

from shim.clock import Clock


class R2Store:
    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock

    async def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None
