"""A binding kind the shim serves, in one place: its wrangler entry, its binding, its store.

Each kind is a folder under shim/ (d1, kv, r2, ...) whose `kind.py` defines one
subclass of Kind, listed once in shim/registry.py. What a kind provides, and how to
add one, is docs/architecture.md.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.api.routes import Route
from groundflare.shim.clock import Clock
from groundflare.shim.messages import Request, Response
from groundflare.shim.resource import Resource
from groundflare.workerd_config.model import BindingModel

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Served:
    """A kind's resource, opened by the shim: its store and its handlers by workerd tag."""

    resource: Resource
    handlers: Mapping[str, Handler]
    # The resource's SQLite file and what to call it: messages about damage name it.
    file: Path
    what: str


class Kind(ABC):
    # The registry name, also the resource kind in workerd tags (`kv:<id>`).
    name: ClassVar[str]
    # The wrangler.toml array it reads (`kv_namespaces` for `[[kv_namespaces]]`, dotted for a
    # nested one: `queues.producers`); empty for a kind wrangler.toml does not declare.
    wrangler_field: ClassVar[str]
    # One entry of that array, as wrangler spells it.
    entry: ClassVar[type[BaseModel]]
    # Its folder under the data dir; the kind lays out what is inside.
    folder: ClassVar[str]
    # The `type` of the `[[unsafe.bindings]]` entries it also reads (validated as `entry`).
    unsafe_type: ClassVar[str | None] = None

    @abstractmethod
    def binding(self, entry: Any) -> BindingModel:
        """The binding one wrangler entry declares (config side: capnp, resources)."""

    @abstractmethod
    def serve(self, spec: ResourceSpec, folder: Path, clock: Clock) -> Served:
        """The store for one resource under `folder` (the shim side), not yet opened."""

    def routes(self) -> Sequence[Route]:
        """The kind's Cloudflare v4 REST routes (shim/api/routes.py); none by default.
        The REST listener, the data CLI, the explorer and the test plugin all use these."""
        return ()

    def location(self, spec: ResourceSpec, folder: Path) -> Path:
        """The file or folder holding the resource's data under `folder`: what deleting the
        resource removes. A kind whose resources cannot be deleted leaves this unset."""
        raise NotImplementedError(f"{self.name} resources cannot be deleted")

    def discard(self, spec: ResourceSpec, folder: Path) -> None:
        """Delete the (closed) resource's data."""
        where = self.location(spec, folder)
        if where.is_dir():
            shutil.rmtree(where)
        else:
            for path in (
                where,
                where.with_name(where.name + "-wal"),
                where.with_name(where.name + "-shm"),
            ):
                path.unlink(missing_ok=True)
