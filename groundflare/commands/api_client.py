"""How the data CLI reaches a data dir's resources: through the running stack's v4 API, or,
when nothing runs there, through the same routes served in-process from the files, under
the data-dir lock (so the results are the same either way, by construction).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from groundflare.commands.common import data_root, fail
from groundflare.contracts.layout import DataDir
from groundflare.contracts.shim_config import ShimConfig
from groundflare.lock import DataDirBusy, DataDirLock
from groundflare.paths import PRIVATE_UMASK
from groundflare.profile import Installation, ProfileError
from groundflare.runtime import Runtime
from groundflare.secret_store import SecretStoreError
from groundflare.shim.api.listener import Api, local_hosts
from groundflare.shim.clock import Clock
from groundflare.shim.live import LiveResources
from groundflare.shim.messages import Body, Request, Response
from groundflare.shim.registry import kinds, plugins_from_env
from groundflare.workerd_config.wrangler import ConfigError, read_config

V4 = "/client/v4"
# Files the CLI creates in the data dir are the user's alone, as the stack's are.


@dataclass(frozen=True)
class Credentials:
    """What a client needs to reach one running stack."""

    api: str
    token: str
    account_id: str
    s3_access_key_id: str
    s3_secret_access_key: str

    @property
    def base_url(self) -> str:
        return f"{self.api}{V4}"

    def env(self) -> dict[str, str]:
        """The variables wrangler, the SDKs and the AWS tools read."""
        return {
            "CLOUDFLARE_API_BASE_URL": self.base_url,
            "CLOUDFLARE_API_TOKEN": self.token,
            "CLOUDFLARE_ACCOUNT_ID": self.account_id,
            "AWS_ENDPOINT_URL_S3": self.api,
            "AWS_ACCESS_KEY_ID": self.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_access_key,
            "AWS_DEFAULT_REGION": "auto",
        }


def secrets_of(root: Path) -> tuple[str, dict[str, str]]:
    """(install id, secrets) of a data dir's profile; fails with one line if unreadable."""
    install = Installation(root)
    try:
        profile = install.load()
        return profile.install_id, install.secrets(profile)
    except (ProfileError, SecretStoreError) as exc:
        fail("profile", str(exc))


def account_from_configs(configs: tuple[Path, ...]) -> str | None:
    for config in configs:
        try:
            account = read_config(config).get("account_id")
        except ConfigError as exc:
            fail("config", str(exc), 2)
        if isinstance(account, str) and account:
            return account
    return None


def running_api(layout: DataDir) -> str | None:
    """The running stack's REST listener URL, or None when nothing runs on the data dir."""
    try:
        runtime = Runtime.model_validate_json(layout.runtime_json.read_bytes())
    except (OSError, ValueError):
        return None
    if Path("/proc").is_dir() and not Path(f"/proc/{runtime.pid}").exists():
        return None
    return runtime.endpoints.get("api")


def credentials(layout: DataDir, configs: tuple[Path, ...] = ()) -> Credentials | None:
    api = running_api(layout)
    if api is None:
        return None
    install_id, values = secrets_of(layout.root)
    return Credentials(
        api=api,
        token=values["api_token"],
        account_id=account_from_configs(configs) or install_id,
        s3_access_key_id=values["s3_access_key_id"],
        s3_secret_access_key=values["s3_secret_access_key"],
    )


# ---- one v4 request, either way ----


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class _Control:
    def hold_reading(self, reason: int, hold: bool) -> None:
        pass


class Client:
    """Sends v4 requests (paths after /client/v4, with any account id) to a running stack
    over HTTP, or to the same routes in this process when the stack is stopped."""

    def __init__(self, layout: DataDir, configs: tuple[Path, ...] = ()) -> None:
        self.layout = layout
        self.remote = credentials(layout, configs)
        self._api: Api | None = None
        self._resources: LiveResources | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.account = self.remote.account_id if self.remote else "local"

    @contextlib.contextmanager
    def session(self) -> Iterator[Client]:
        """Open the files when nothing runs (holding the data-dir lock), close them after."""
        if self.remote is not None:
            yield self
            return
        lock = DataDirLock(self.layout.run / "supervisor.lock")
        old_umask = os.umask(PRIVATE_UMASK)
        try:
            self.layout.prepare()
            lock.acquire()
        except (DataDirBusy, OSError, ValueError) as exc:
            os.umask(old_umask)
            fail("data-dir", str(exc))
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._open())
            yield self
        finally:
            self._loop.run_until_complete(self._close())
            self._loop.close()
            lock.release()
            os.umask(old_umask)

    async def _open(self) -> None:
        plugins = plugins_from_env()
        bound = []
        with contextlib.suppress(OSError, ValueError):
            # The resources the last run bound (they are in the catalogue as well).
            bound = ShimConfig.model_validate_json(self.layout.shim_config.read_bytes()).resources
        resources = LiveResources(self.layout.root, kinds(plugins), Clock(), bound)
        self._resources = resources
        await asyncio.gather(*(live.served.resource.open() for live in resources.all()))
        self._api = Api(
            "offline",
            self.layout.runtime_json,
            local_hosts("127.0.0.1", 0),
            resources=resources,
            routes=resources.routes(),
        )

    async def _close(self) -> None:
        if self._resources is not None:
            await asyncio.gather(*(live.served.resource.close() for live in self._resources.all()))
            self._resources.close_catalogue()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> Answer:
        """`path` after /client/v4 (or a full signed URL path starting with /_groundflare)."""
        target = path if path.startswith("/_groundflare") else f"{V4}{path}"
        if query:
            target += f"?{query}"
        if self.remote is not None:
            return _http(self.remote, method, target, body, headers or {})
        assert self._loop is not None
        return self._loop.run_until_complete(self._local(method, target, body, headers or {}))

    async def _local(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        assert self._api is not None
        path, _, query = target.partition("?")
        incoming = Body(_Control())
        if body:
            incoming.feed(body)
        incoming.finish()
        sent = {k.lower(): v for k, v in headers.items()}
        sent.update(host="127.0.0.1:0", authorization="Bearer offline")
        if body is not None:
            sent["content-length"] = str(len(body))
        response = await self._api.dispatch(Request(method, path, query, sent, incoming))
        return Answer(response.status, await _collect(response), dict(response.headers))

    def account_path(self, rest: str) -> str:
        return f"/accounts/{self.account}{rest}"

    def local_path(self, url: str) -> str:
        """A URL the API handed out, as a path for `request` (signed URLs)."""
        return "/" + url.split("/", 3)[3]


async def _collect(response: Response) -> bytes:
    if isinstance(response.body, bytes | bytearray):
        return bytes(response.body)
    parts = [chunk async for chunk in response.body]
    closing = getattr(response.body, "aclose", None)
    if closing is not None:
        with contextlib.suppress(Exception):
            await closing()
    return b"".join(parts)


def _http(
    remote: Credentials, method: str, target: str, body: bytes | None, headers: dict[str, str]
) -> Answer:
    sent = {"Authorization": f"Bearer {remote.token}", **headers}
    request = urllib.request.Request(remote.api + target, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return Answer(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.read(), dict(err.headers))
    except OSError as exc:
        fail("api", f"cannot reach the stack at {remote.api}: {exc}")


# ---- what the data commands share ----


def v4_result(answer: Answer, component: str) -> Any:
    """The `result` of a v4 answer; a failure ends the command with Cloudflare's message."""
    try:
        body = answer.json()
    except ValueError:
        fail(component, f"HTTP {answer.status}: {answer.body[:200]!r}")
    if answer.status >= 300 or not body.get("success"):
        errors = body.get("errors") or [{"code": answer.status, "message": "request failed"}]
        fail(component, "; ".join(f"{e['message']} [code: {e['code']}]" for e in errors))
    return body.get("result")


def table(rows: list[dict[str, Any]]) -> str:
    """Rows as a plain text table, for people (--json is for scripts)."""
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(name for row in rows for name in row))
    cells = [[_cell(row.get(name)) for name in columns] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]
    rule = "-+-".join("-" * w for w in widths)
    lines = [" | ".join(n.ljust(w) for n, w in zip(columns, widths, strict=True)), rule]
    lines += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="wrangler.toml or wrangler.jsonc naming the resources (bindings, migrations_dir).",
)


def data_client(configs: tuple[Path, ...], data_dir: Path | None) -> Client:
    return Client(DataDir(root=data_root(data_dir)), configs)
