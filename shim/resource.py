"""What the shim needs from every D1 database, KV namespace and R2 bucket it serves."""

from __future__ import annotations

from typing import Protocol


class Resource(Protocol):
    async def open(self) -> None:
        """Make the resource ready (files, index, crash recovery) before the socket serves."""

    async def close(self) -> None:
        """Flush and release everything; called once, at shutdown."""
