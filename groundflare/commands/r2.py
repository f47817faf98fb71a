"""`groundflare r2 ...`: wrangler's R2 verbs and flags (bucket, object), on a running stack
or a stopped data dir (groundflare/commands/api_client.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import quote

import click

from groundflare.commands.api_client import CONFIG_OPTION, Client, data_client, table, v4_result
from groundflare.commands.common import DATA_DIR_OPTION, fail

OBJECT_HEADERS = {
    "content_type": "Content-Type",
    "content_disposition": "Content-Disposition",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "cache_control": "Cache-Control",
}


@click.group()
def r2() -> None:
    """R2 buckets and objects (wrangler's verbs)."""


@r2.group("bucket")
def bucket() -> None:
    """List, create and delete buckets."""


def _call(client: Client, method: str, path: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    answer = client.request(
        method, client.account_path(path), data, {"Content-Type": "application/json"}
    )
    return v4_result(answer, "r2")


@bucket.command("list")
@CONFIG_OPTION
@DATA_DIR_OPTION
def bucket_list(configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Every bucket of the data dir."""
    client = data_client(configs, data_dir)
    with client.session():
        found = _call(client, "GET", "/r2/buckets")
    assert isinstance(found, dict)
    click.echo(
        table([{"name": b["name"], "creation_date": b["creation_date"]} for b in found["buckets"]])
    )


@bucket.command("create")
@click.argument("name")
@CONFIG_OPTION
@DATA_DIR_OPTION
def bucket_create(name: str, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Create a bucket."""
    client = data_client(configs, data_dir)
    with client.session():
        _call(client, "POST", "/r2/buckets", {"name": name})
    click.echo(f"Created bucket '{name}'")


@bucket.command("delete")
@click.argument("name")
@CONFIG_OPTION
@DATA_DIR_OPTION
def bucket_delete(name: str, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Delete an empty bucket (not one a running Worker binds)."""
    client = data_client(configs, data_dir)
    with client.session():
        _call(client, "DELETE", f"/r2/buckets/{name}")
    click.echo(f"Deleted bucket '{name}'")


@r2.group("object")
def object_() -> None:
    """Put, get and delete objects, named BUCKET/KEY."""


def _split(path: str) -> tuple[str, str]:
    bucket_name, _, key = path.partition("/")
    if not bucket_name or not key:
        fail("r2", f"name the object as BUCKET/KEY, not {path!r}", 2)
    return bucket_name, key


def _object_path(path: str) -> str:
    bucket_name, key = _split(path)
    return f"/r2/buckets/{bucket_name}/objects/{quote(key, safe='/')}"


LOCAL_OPTION = click.option("--local/--remote", default=True, hidden=True)


@object_.command("put")
@click.argument("path")
@click.option(
    "--file",
    "-f",
    "file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The file to upload.",
)
@click.option("--pipe", "-p", is_flag=True, help="Read the object from standard input.")
@click.option("--content-type", "-ct", "content_type", help="Its Content-Type.")
@click.option(
    "--content-disposition", "-cd", "content_disposition", help="Its Content-Disposition."
)
@click.option("--content-encoding", "-ce", "content_encoding", help="Its Content-Encoding.")
@click.option("--content-language", "-cl", "content_language", help="Its Content-Language.")
@click.option("--cache-control", "-cc", "cache_control", help="Its Cache-Control.")
@LOCAL_OPTION
@CONFIG_OPTION
@DATA_DIR_OPTION
def object_put(
    path: str,
    file: Path | None,
    pipe: bool,
    local: bool,
    configs: tuple[Path, ...],
    data_dir: Path | None,
    **fields: str | None,
) -> None:
    """Upload an object from a file or standard input."""
    if (file is None) == (not pipe):
        fail("r2", "give exactly one of --file and --pipe", 2)
    data = file.read_bytes() if file is not None else sys.stdin.buffer.read()
    headers = {OBJECT_HEADERS[name]: value for name, value in fields.items() if value}
    client = data_client(configs, data_dir)
    with client.session():
        v4_result(
            client.request("PUT", client.account_path(_object_path(path)), data, headers), "r2"
        )
    click.echo(f"Uploaded {len(data)} bytes to {path}", err=pipe)


@object_.command("get")
@click.argument("path")
@click.option(
    "--file",
    "-f",
    "file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write it.",
)
@click.option("--pipe", "-p", is_flag=True, help="Write it to standard output.")
@LOCAL_OPTION
@CONFIG_OPTION
@DATA_DIR_OPTION
def object_get(
    path: str,
    file: Path | None,
    pipe: bool,
    local: bool,
    configs: tuple[Path, ...],
    data_dir: Path | None,
) -> None:
    """Download an object to a file (default: its key's last part) or standard output."""
    client = data_client(configs, data_dir)
    with client.session():
        answer = client.request("GET", client.account_path(_object_path(path)))
    if answer.status != 200:
        v4_result(answer, "r2")
    if pipe:
        sys.stdout.buffer.write(answer.body)
        return
    target = file or Path(_split(path)[1].rsplit("/", 1)[-1])
    target.write_bytes(answer.body)
    click.echo(f"Downloaded {path} to {target} ({len(answer.body)} bytes)")


@object_.command("delete")
@click.argument("path")
@LOCAL_OPTION
@CONFIG_OPTION
@DATA_DIR_OPTION
def object_delete(path: str, local: bool, configs: tuple[Path, ...], data_dir: Path | None) -> None:
    """Delete an object."""
    client = data_client(configs, data_dir)
    with client.session():
        v4_result(client.request("DELETE", client.account_path(_object_path(path))), "r2")
    click.echo(f"Deleted {path}")
