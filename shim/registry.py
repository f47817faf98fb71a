"""Every binding kind the shim serves: the built-in ones, one line each, and plugins.

A plugin is a kind that lives outside groundflare (`$GROUNDFLARE_KINDS`, a list of
`path/to/kind.py` files or importable module names separated by the OS path separator,
each defining `KIND`). The supervisor reads the variable; the shim gets the same list
in its config, so both sides know the same kinds.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from groundflare.shim.analytics.kind import KIND as ANALYTICS
from groundflare.shim.cache.kind import KIND as CACHE
from groundflare.shim.d1.kind import KIND as D1
from groundflare.shim.email.kind import KIND as EMAIL
from groundflare.shim.kinds import Kind
from groundflare.shim.kv.kind import KIND as KV
from groundflare.shim.queues.kind import KIND as QUEUES
from groundflare.shim.r2.kind import KIND as R2
from groundflare.shim.ratelimit.kind import KIND as RATELIMIT
from groundflare.shim.secrets_store.kind import KIND as SECRETS_STORE

BUILT_IN: tuple[Kind, ...] = (
    D1,
    KV,
    R2,
    QUEUES,
    RATELIMIT,
    CACHE,
    EMAIL,
    ANALYTICS,
    SECRETS_STORE,
)
PLUGINS_ENV = "GROUNDFLARE_KINDS"


class KindError(ValueError):
    """A plugin that cannot be loaded; the message names it."""


def plugins_from_env() -> list[str]:
    """`$GROUNDFLARE_KINDS`, with file paths made absolute (the shim runs elsewhere)."""
    refs = [ref for ref in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if ref]
    return [str(Path(ref).resolve()) if ref.endswith(".py") else ref for ref in refs]


def load_plugin(ref: str) -> Kind:
    try:
        if ref.endswith(".py"):
            name = f"groundflare_kind_{Path(ref).stem}"
            spec = importlib.util.spec_from_file_location(name, ref)
            if spec is None or spec.loader is None:
                raise KindError(f"{ref}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(ref)
    except (ImportError, OSError) as exc:
        raise KindError(f"binding kind plugin {ref}: cannot load it: {exc}") from exc
    kind = getattr(module, "KIND", None)
    if not isinstance(kind, Kind):
        raise KindError(
            f"binding kind plugin {ref}: it defines no KIND (a groundflare.shim.kinds.Kind)"
        )
    return kind


def kinds(plugins: Sequence[str] = ()) -> dict[str, Kind]:
    """The built-in kinds, then the plugins, by name."""
    found = {kind.name: kind for kind in BUILT_IN}
    for ref in plugins:
        kind = load_plugin(ref)
        if kind.name in found:
            raise KindError(f"binding kind plugin {ref}: the kind {kind.name!r} exists already")
        found[kind.name] = kind
    return found
