"""`[[hyperdrive]]`: workerd's native Hyperdrive binding, its connections going straight to the
database of `localConnectionString` (or wrangler's
`CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_<BINDING>`), as `wrangler dev` does; there is
no pooling or query cache in between (docs/bindings.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from groundflare.workerd_config.model import BindingModel, RenderContext
from groundflare.workerd_config.wrangler_schema import HyperdriveEntry

LOCAL_ENV_PREFIXES = (
    "CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_",
    "WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_",
)
DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "mysql": 3306}


class HyperdriveBinding(BindingModel):
    """`env.DB`: `connectionString`, `host`, `port`, `user`, `password`, `database` and
    `connect()`, whose sockets workerd sends to the database's address."""

    kind: Literal["hyperdrive"] = "hyperdrive"
    scheme: str
    address: str
    database: str
    user: str
    password: str

    @property
    def service(self) -> str:
        return f"hyperdrive-{self.name}"

    def capnp_binding(self, ctx: RenderContext) -> dict[str, Any]:
        target = {
            "designator": {"name": self.service},
            "database": self.database,
            "user": self.user,
            "password": self.password,
            "scheme": self.scheme,
        }
        return {"name": self.name, "hyperdrive": target}

    def capnp_services(self, ctx: RenderContext) -> list[dict[str, Any]]:
        return [{"name": self.service, "external": {"address": self.address, "tcp": {}}}]


class HyperdriveError(ValueError):
    """A connection string groundflare cannot use; the message says why."""


def parse(binding: str, connection: str) -> HyperdriveBinding:
    url = urlsplit(connection)
    scheme = url.scheme
    if scheme not in DEFAULT_PORTS:
        raise HyperdriveError(
            f"{binding}: only PostgreSQL-compatible or MySQL-compatible databases are supported "
            f"(postgres://, postgresql://, mysql://), not {scheme or 'a URL without one'}"
        )
    if not url.hostname or not url.username or not url.path.strip("/"):
        raise HyperdriveError(
            f"{binding}: the connection string needs a user, a host and a database name, "
            "e.g. postgres://user:password@127.0.0.1:5432/app"
        )
    return HyperdriveBinding(
        name=binding,
        scheme=scheme,
        address=f"{url.hostname}:{url.port or DEFAULT_PORTS[scheme]}",
        database=unquote(url.path.strip("/")),
        user=unquote(url.username),
        password=unquote(url.password or ""),
    )


def hyperdrive_bindings(
    entries: list[HyperdriveEntry], path: Path, environ: Mapping[str, str] | None = None
) -> list[HyperdriveBinding]:
    """HyperdriveError for a binding without a local connection string, with wrangler's
    advice (wrangler dev refuses to start without one, too)."""
    env = os.environ if environ is None else environ
    found = []
    for entry in entries:
        connection = next(
            (env[p + entry.binding] for p in LOCAL_ENV_PREFIXES if p + entry.binding in env),
            entry.localConnectionString,
        )
        if not connection:
            raise HyperdriveError(
                f'{path}: hyperdrive: "{entry.binding}" has no local database: set its '
                f'"localConnectionString", or {LOCAL_ENV_PREFIXES[0]}{entry.binding}, to a '
                "connection string of a database you run locally "
                "(e.g. postgres://user:password@127.0.0.1:5432/app)"
            )
        try:
            found.append(parse(entry.binding, connection))
        except HyperdriveError as exc:
            raise HyperdriveError(f"{path}: hyperdrive: {exc}") from exc
    return found
