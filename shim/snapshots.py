"""Named snapshots of a whole stack's data, taken and restored while it runs: what a test
run seeds once and restores before each test (docs/testing.md).

Every resource copies itself (`Resource.snapshot`/`restore`, shim/snapshot.py). Durable
Objects live in workerd's own storage (`do/`): their instances are aborted through the
door first, so none keeps state in memory or holds its file open, then their SQLite
files are copied (never `metadata.sqlite`, which workerd keeps open for alarms); a restore
first removes every object's file, running or not, so only the snapshot's come back.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from groundflare.contracts.layout import DataDir
from groundflare.contracts.names import file_part
from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.clock import Clock
from groundflare.shim.door import Door
from groundflare.shim.kinds import Served

SNAPSHOTS_FOLDER = "snapshots"
DURABLE_OBJECTS_COPY = "do"
# workerd's per-namespace index of alarms: open for the stack's life, never copied.
WORKERD_METADATA = "metadata.sqlite"
# Where the test clock stood: a restore sets it back, so a test that moved time forward
# leaves the next one's KV expirations and crons as they were.
CLOCK_FILE = "clock.json"


class SnapshotError(Exception):
    """No such snapshot, or a name that cannot be one; the message says which."""


@dataclass
class Snapshotted:
    """One resource: where its copies go under a snapshot's folder."""

    spec: ResourceSpec
    served: Served
    kind_folder: str

    def folder(self, snapshot: Path) -> Path:
        return snapshot / self.kind_folder / file_part(self.spec.id)


class Snapshots:
    def __init__(
        self,
        data_dir: DataDir,
        resources: list[Snapshotted],
        door: Door | None,
        clock: Clock | None = None,
    ) -> None:
        self._data_dir = data_dir
        self._resources = resources
        self._door = door
        self._clock = clock
        self._lock = asyncio.Lock()

    def folder(self, name: str) -> Path:
        if not name or file_part(name) != name:
            raise SnapshotError(f"{name!r} cannot name a snapshot: use [A-Za-z0-9_-]")
        return self._data_dir.root / SNAPSHOTS_FOLDER / name

    async def take(self, name: str) -> None:
        """Copy everything into the snapshot `name`, replacing an older one of that name."""
        target = self.folder(name)
        async with self._lock:
            staging = target.with_name(f".{name}.taking")
            await asyncio.to_thread(_empty_folder, staging)
            await asyncio.gather(
                *(r.served.resource.snapshot(r.folder(staging)) for r in self._resources)
            )
            if self._door is not None:
                await self._door.durable_objects("abort")
                objects = staging / DURABLE_OBJECTS_COPY
                await asyncio.to_thread(_copy_objects, self._data_dir.durable_objects, objects)
            if self._clock is not None:
                clock = json.dumps({"offset": self._clock.offset})
                await asyncio.to_thread((staging / CLOCK_FILE).write_text, clock)
            await asyncio.to_thread(_replace_folder, staging, target)

    async def restore(self, name: str) -> None:
        """Make everything what it was when `name` was taken; nothing restarts."""
        source = self.folder(name)
        if not source.is_dir():
            raise SnapshotError(f"no snapshot named {name!r} (take it first)")
        async with self._lock:
            if self._door is not None:
                await self._door.durable_objects("delete")
                # workerd deletes the storage of the objects running now; one aborted or
                # evicted before keeps its file unless it goes here.
                await asyncio.to_thread(_drop_objects, self._data_dir.durable_objects)
                objects = source / DURABLE_OBJECTS_COPY
                await asyncio.to_thread(_copy_objects, objects, self._data_dir.durable_objects)
            await asyncio.gather(
                *(r.served.resource.restore(r.folder(source)) for r in self._resources)
            )
            clock_file = source / CLOCK_FILE
            if self._clock is not None and clock_file.exists():
                offset = json.loads(await asyncio.to_thread(clock_file.read_text))["offset"]
                self._clock.advance(offset - self._clock.offset)


def _empty_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)


def _replace_folder(new: Path, old: Path) -> None:
    shutil.rmtree(old, ignore_errors=True)
    new.rename(old)


def _drop_objects(do_dir: Path) -> None:
    """Every object's SQLite files (with their -wal and -shm) under `do_dir`, none running."""
    if not do_dir.is_dir():
        return
    for path in do_dir.rglob("*.sqlite*"):
        if not path.name.startswith(WORKERD_METADATA):
            path.unlink(missing_ok=True)


def _copy_objects(source: Path, target: Path) -> None:
    """Durable Objects' SQLite files under `source` to the same places under `target`."""
    if not source.is_dir():
        return
    for path in source.rglob("*.sqlite"):
        if path.name == WORKERD_METADATA:
            continue
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
