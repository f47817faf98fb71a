"""What the config side needs from a binding kind the shim serves (shim/<kind>/kind.py).

The loader is handed the kinds (the registry lives in shim/registry.py); it never
imports them, so a new kind is a new folder, not an edit here.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from groundflare.workerd_config.model import BindingModel


class ConfigKind(Protocol):
    @property
    def name(self) -> str:
        """The registry name, also the resource kind in tags (`kv:<id>`)."""
        ...

    @property
    def wrangler_field(self) -> str:
        """The wrangler.toml array it reads, e.g. `kv_namespaces` for `[[kv_namespaces]]`, or
        `queues.producers` for `[[queues.producers]]`; empty for none."""
        ...

    @property
    def entry(self) -> type[BaseModel]:
        """One entry of that array, as wrangler spells it."""
        ...

    @property
    def unsafe_type(self) -> str | None:
        """The `type` of the `[[unsafe.bindings]]` entries it reads too, if any."""
        ...

    def binding(self, entry: Any) -> BindingModel:
        """The binding one entry declares."""
        ...
