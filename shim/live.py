"""Every resource the shim serves, by kind and id: those wrangler.toml binds and those the
v4 API or the data CLI created (shim/catalogue.py lists them all).

One store object per resource, shared by workerd's bindings and the REST routes: data
written either way is visible to the other at once, and each store keeps its one writer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from groundflare.contracts.resources import ResourceSpec
from groundflare.shim.api.envelope import ApiError
from groundflare.shim.api.routes import Route
from groundflare.shim.catalogue import Catalogue, Entry
from groundflare.shim.clock import Clock
from groundflare.shim.kinds import Handler, Kind, Served

log = logging.getLogger("shim")


@dataclass
class Live:
    entry: Entry
    served: Served
    kind: Kind


class LiveResources:
    """Built from the catalogue plus the config's resources; `open()` opens them all."""

    def __init__(
        self,
        data_dir: Path,
        registry: Mapping[str, Kind],
        clock: Clock,
        bound: list[ResourceSpec],
        signing_key: str = "",
    ) -> None:
        self.data_dir = data_dir
        self.kinds = dict(registry)
        self.clock = clock
        self.catalogue = Catalogue(data_dir)
        self.handlers: dict[str, Handler] = {}
        self._live: dict[tuple[str, str], Live] = {}
        self._bound = {(spec.kind, spec.id) for spec in bound}
        self._signing_key = (signing_key or secrets.token_hex(32)).encode()
        self.catalogue.open()
        for spec in bound:
            # A binding naming a known id serves the recorded resource (its files, its name).
            self.catalogue.add(spec)
        for entry in self.catalogue.entries():
            kind = self.kinds.get(entry.spec.kind)
            if kind is None:
                log.warning("catalogue: no binding kind %r for %s", entry.spec.kind, entry.spec.id)
                continue
            self._serve(kind, entry)

    def _serve(self, kind: Kind, entry: Entry) -> Live:
        served = kind.serve(entry.spec, self.data_dir / kind.folder, self.clock)
        live = Live(entry, served, kind)
        self._live[(entry.spec.kind, entry.spec.id)] = live
        self.handlers.update(served.handlers)
        return live

    def routes(self) -> list[Route]:
        """Every kind's v4 routes."""
        return [route for kind in self.kinds.values() for route in kind.routes()]

    def all(self) -> list[Live]:
        return list(self._live.values())

    def close_catalogue(self) -> None:
        self.catalogue.close()

    # ---- what routes see (shim/api/routes.py Resources) ----

    def entries(self, kind: str) -> list[Entry]:
        return [live.entry for (k, _), live in self._live.items() if k == kind]

    def served(self, kind: str, resource_id: str) -> Served | None:
        live = self._live.get((kind, resource_id))
        return None if live is None else live.served

    def bound(self, kind: str, resource_id: str) -> bool:
        return (kind, resource_id) in self._bound

    async def create(self, kind: str, resource_id: str, name: str) -> Entry:
        found = self._live.get((kind, resource_id))
        if found is not None:
            return found.entry
        spec = ResourceSpec(kind=kind, id=resource_id, name=name)
        entry = await asyncio.to_thread(self.catalogue.add, spec)
        live = self._serve(self.kinds[kind], entry)
        try:
            await live.served.resource.open()
        except BaseException:
            self._forget(live)
            await asyncio.to_thread(self.catalogue.remove, kind, resource_id)
            raise
        return entry

    async def rename(self, kind: str, resource_id: str, name: str) -> Entry:
        live = self._live[(kind, resource_id)]
        await asyncio.to_thread(self.catalogue.rename, kind, resource_id, name)
        live.entry = Entry(
            ResourceSpec(kind=kind, id=resource_id, name=name), live.entry.created_at
        )
        return live.entry

    async def drop(self, kind: str, resource_id: str) -> None:
        if self.bound(kind, resource_id):
            raise ApiError(
                409,
                10000,
                f"{kind} {resource_id} is bound by a Worker of the running stack "
                "(wrangler.toml names it): remove the binding first",
            )
        live = self._live[(kind, resource_id)]
        self._forget(live)
        # Forgotten first: a crash before the files go leaves files nothing lists, never a
        # listed resource without its files.
        await asyncio.to_thread(self.catalogue.remove, kind, resource_id)
        await live.served.resource.close()
        folder = self.data_dir / live.kind.folder
        await asyncio.to_thread(live.kind.discard, live.entry.spec, folder)

    def _forget(self, live: Live) -> None:
        del self._live[(live.entry.spec.kind, live.entry.spec.id)]
        for tag in live.served.handlers:
            self.handlers.pop(tag, None)

    # ---- signed URLs ----

    def sign(self, purpose: str) -> str:
        return hmac.new(self._signing_key, purpose.encode(), hashlib.sha256).hexdigest()

    def check_signature(self, purpose: str, token: str) -> bool:
        return hmac.compare_digest(self.sign(purpose), token)
