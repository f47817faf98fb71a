"""`groundflare kv ...`: wrangler's KV verbs and flags (namespace, key, bulk), on a running
stack or a stopped data dir (groundflare/commands/api_client.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import click

from groundflare.commands.api_client import CONFIG_OPTION, Client, data_client, v4_result
from groundflare.commands.common import DATA_DIR_OPTION, fail
from groundflare.workerd_config.wrangler import ConfigError, read_config

# wrangler sends bulk requests in batches of this many pairs or keys.
BATCH = 5000


def namespace_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--namespace-id", help="The namespace's id."),
            click.option("--binding", help="The binding naming the namespace in wrangler.toml."),
            CONFIG_OPTION,
            DATA_DIR_OPTION,
            click.option("--local/--remote", default=True, hidden=True),
        ]
    ):
        command = option(command)
    return command


def resolve_namespace(namespace: str | None, binding: str | None, configs: tuple[Path, ...]) -> str:
    if namespace:
        return namespace
    if binding:
        for config in configs:
            try:
                entries = read_config(config).get("kv_namespaces") or []
            except ConfigError as exc:
                fail("config", str(exc), 2)
            for entry in entries:
                if entry.get("binding") == binding:
                    return entry.get("id") or binding
        fail(
            "kv",
            f"no [[kv_namespaces]] binding {binding!r} in "
            f"{', '.join(map(str, configs)) or 'no config (-c)'}",
            2,
        )
    fail("kv", "name the namespace with --namespace-id or --binding", 2)


def call(
    client: Client,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    query: str = "",
) -> Any:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if raw is None and body is not None else {}
    return v4_result(client.request(method, client.account_path(path), data, headers, query), "kv")


@click.group()
def kv() -> None:
    """KV namespaces, keys and bulk writes (wrangler's verbs)."""


@kv.group("namespace")
def namespace() -> None:
    """List, create, rename and delete namespaces."""


@namespace.command("list")
@CONFIG_OPTION
@DATA_DIR_OPTION
def namespace_list(configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Every namespace of the data dir, as JSON."""
    client = data_client(configs, data_dir)
    with client.session():
        found = call(client, "GET", "/storage/kv/namespaces", query="per_page=1000")
    click.echo(json.dumps(found, indent=2))


@namespace.command("create")
@click.argument("title")
@CONFIG_OPTION
@DATA_DIR_OPTION
def namespace_create(title: str, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Create a namespace; prints its id (for wrangler.toml's [[kv_namespaces]] id)."""
    client = data_client(configs, data_dir)
    with client.session():
        created = call(client, "POST", "/storage/kv/namespaces", {"title": title})
    click.echo(f'Created namespace "{title}" with id "{created["id"]}"')


@namespace.command("rename")
@click.option("--namespace-id", required=True, help="The namespace's id.")
@click.option("--new-name", required=True, help="Its new title.")
@CONFIG_OPTION
@DATA_DIR_OPTION
def namespace_rename(
    namespace_id: str, new_name: str, configs: tuple[Path, ...], data_dir: Path | None
) -> None:
    """Give a namespace a new title."""
    client = data_client(configs, data_dir)
    with client.session():
        call(client, "PUT", f"/storage/kv/namespaces/{namespace_id}", {"title": new_name})
    click.echo(f'Renamed namespace {namespace_id} to "{new_name}"')


@namespace.command("delete")
@namespace_options
def namespace_delete(
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Delete a namespace and its keys (not one a running Worker binds)."""
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    with client.session():
        call(client, "DELETE", f"/storage/kv/namespaces/{ns}")
    click.echo(f"Deleted namespace {ns}")


@kv.group("key")
def key() -> None:
    """Put, get, list and delete keys."""


def _key_path(ns: str, name: str, what: str = "values") -> str:
    return f"/storage/kv/namespaces/{ns}/{what}/{quote(name, safe='')}"


@key.command("put")
@click.argument("name")
@click.argument("value", required=False)
@click.option(
    "--path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read the value from this file.",
)
@click.option("--metadata", help="Metadata, as JSON.")
@click.option("--expiration", type=int, help="Expire at this time (seconds since the epoch).")
@click.option("--ttl", type=int, help="Expire after this many seconds (at least 60).")
@namespace_options
def key_put(
    name: str,
    value: str | None,
    path: Path | None,
    metadata: str | None,
    expiration: int | None,
    ttl: int | None,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Write one key (the value as an argument, or --path)."""
    if (value is None) == (path is None):
        fail("kv", "give the value as an argument or with --path, not both", 2)
    data = path.read_bytes() if path is not None else (value or "").encode()
    ns = resolve_namespace(namespace_id, binding, configs)
    query = urlencode(
        {k: v for k, v in (("expiration", expiration), ("expiration_ttl", ttl)) if v is not None}
    )
    headers = {} if metadata is None else {"CF-KV-Metadata": metadata}
    client = data_client(configs, data_dir)
    with client.session():
        v4_result(
            client.request("PUT", client.account_path(_key_path(ns, name)), data, headers, query),
            "kv",
        )
    click.echo(f'Wrote {len(data)} bytes to key "{name}" of namespace {ns}')


@key.command("get")
@click.argument("name")
@click.option("--text", is_flag=True, help="Decode the value as UTF-8 text.")
@namespace_options
def key_get(
    name: str,
    text: bool,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Print one key's value (raw bytes unless --text)."""
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    with client.session():
        answer = client.request("GET", client.account_path(_key_path(ns, name)))
    if answer.status == 404:
        click.echo("Value not found", err=True)
        raise SystemExit(1)
    if answer.status != 200:
        v4_result(answer, "kv")
    if text:
        click.echo(answer.body.decode("utf-8", "replace"))
    else:
        sys.stdout.buffer.write(answer.body)


@key.command("list")
@click.option("--prefix", default="", help="Only keys starting with this.")
@namespace_options
def key_list(
    prefix: str,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Every key (with expiration and metadata), as JSON."""
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    found: list[Any] = []
    with client.session():
        cursor = ""
        while True:
            query = urlencode({"prefix": prefix, "cursor": cursor, "limit": 1000})
            answer = client.request(
                "GET", client.account_path(f"/storage/kv/namespaces/{ns}/keys"), query=query
            )
            found += v4_result(answer, "kv")
            cursor = answer.json().get("result_info", {}).get("cursor") or ""
            if not cursor:
                break
    click.echo(json.dumps(found, indent=2))


@key.command("delete")
@click.argument("name")
@namespace_options
def key_delete(
    name: str,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Delete one key."""
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    with client.session():
        v4_result(client.request("DELETE", client.account_path(_key_path(ns, name))), "kv")
    click.echo(f'Deleted key "{name}" of namespace {ns}')


@kv.group("bulk")
def bulk() -> None:
    """Write, read and delete many keys from a JSON file."""


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail("kv", f"{path} is not readable JSON: {exc}", 2)


@bulk.command("put")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@namespace_options
def bulk_put(
    file: Path,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Write [{key, value, expiration?, expiration_ttl?, metadata?, base64?}, ...]."""
    pairs = _json_file(file)
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    with client.session():
        for start in range(0, len(pairs), BATCH):
            call(client, "PUT", f"/storage/kv/namespaces/{ns}/bulk", pairs[start : start + BATCH])
            if len(pairs) > BATCH:
                click.echo(f"Uploaded {min(start + BATCH, len(pairs))} of {len(pairs)}", err=True)
    click.echo(f"Wrote {len(pairs)} keys")


@bulk.command("delete")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--force", "-f", is_flag=True, hidden=True)
@namespace_options
def bulk_delete(
    file: Path,
    force: bool,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """Delete the keys of a JSON list (of names, or of {key} objects)."""
    entries = _json_file(file)
    names = [e["key"] if isinstance(e, dict) else e for e in entries]
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    with client.session():
        for start in range(0, len(names), BATCH):
            call(
                client,
                "POST",
                f"/storage/kv/namespaces/{ns}/bulk/delete",
                names[start : start + BATCH],
            )
    click.echo(f"Deleted {len(names)} keys")


@bulk.command("get")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@namespace_options
def bulk_get(
    file: Path,
    namespace_id: str | None,
    binding: str | None,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    local: bool,
) -> None:
    """The values of the keys a JSON list names (100 per request), as one JSON object."""
    entries = _json_file(file)
    names = [e["key"] if isinstance(e, dict) else e for e in entries]
    ns = resolve_namespace(namespace_id, binding, configs)
    client = data_client(configs, data_dir)
    values: dict[str, Any] = {}
    with client.session():
        for start in range(0, len(names), 100):
            got = call(
                client,
                "POST",
                f"/storage/kv/namespaces/{ns}/bulk/get",
                {"keys": names[start : start + 100]},
            )
            values.update(got["values"])
    click.echo(json.dumps(values, indent=2))
