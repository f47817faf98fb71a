"""What the shim needs from the store of every resource it serves (a D1 database, a KV
namespace, an R2 bucket, any binding kind's)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Resource(Protocol):
    async def open(self) -> None:
        """Make the resource ready (files, index, crash recovery) before the socket serves."""

    async def close(self) -> None:
        """Flush and release everything; called once, at shutdown."""

    async def snapshot(self, into: Path) -> None:
        """Write a copy of the whole state into the empty folder `into`, in order with the
        resource's other work (shim/snapshot.py)."""

    async def restore(self, source: Path) -> None:
        """Become exactly the copy `snapshot` wrote into `source`, without reopening."""
