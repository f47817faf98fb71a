"""KV: namespaces, keys by prefix with cursor paging, a value viewer (text, pretty JSON,
hex, image), metadata and expiration, put/edit/delete, and deleting every key under a
prefix after a confirmation; all through the v4 routes (`/storage/kv/namespaces/...`)."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson

from groundflare.shim.explorer.v4 import V4Error, read_all, segment
from groundflare.shim.explorer.web import PREFIX, Page, Refused, redirect
from groundflare.shim.messages import Response

PAGE_KEYS = 100
VIEW_BYTES = 256 * 1024
BULK_DELETE = 10_000
IMAGE_TYPES = {
    b"\x89PNG": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


def _ns(page: Page) -> str:
    return page.params["namespace"]


def _rest(page: Page) -> str:
    return f"/storage/kv/namespaces/{segment(_ns(page))}"


def _base(page: Page) -> str:
    return f"{PREFIX}/kv/{segment(_ns(page))}"


async def namespaces(page: Page) -> Response:
    found = await page.v4.result("GET", "/storage/kv/namespaces", {"per_page": "1000"})
    return page.render("kv_namespaces.html", namespaces=found)


async def keys(page: Page) -> Response:
    info = await page.v4.result("GET", _rest(page))
    prefix = page.query.get("prefix", "")
    query = {"prefix": prefix, "limit": str(PAGE_KEYS)}
    if page.query.get("cursor"):
        query["cursor"] = page.query["cursor"]
    listed = await page.v4.envelope("GET", f"{_rest(page)}/keys", query)
    return page.render(
        "kv_keys.html",
        ns=info,
        base=_base(page),
        prefix=prefix,
        keys=[{**k, "expires": _expiry(k.get("expiration"))} for k in listed["result"]],
        cursor=listed.get("result_info", {}).get("cursor", ""),
    )


def _expiry(seconds: Any) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _entry(page: Page, key: str) -> dict[str, Any] | None:
    """The key's listing entry (its expiration and metadata), if it exists."""
    listed = await page.v4.result("GET", f"{_rest(page)}/keys", {"prefix": key, "limit": "10"})
    return next((k for k in listed if k["name"] == key), None)


def view_of(value: bytes, wanted: str | None) -> tuple[str, str]:
    """How to show a value (text, json, hex, image) and what to show."""
    kind = wanted
    if kind is None:
        kind = next(("image" for magic in IMAGE_TYPES if value.startswith(magic)), None)
    if kind is None:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            kind = "hex"
        else:
            try:
                orjson.loads(text)
                kind = "json"
            except orjson.JSONDecodeError:
                kind = "text"
    if kind == "json":
        try:
            return kind, orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:
            kind = "text"
    if kind == "image":
        mime = next((m for magic, m in IMAGE_TYPES.items() if value.startswith(magic)), None)
        if mime is not None:
            return kind, f"data:{mime};base64,{base64.b64encode(value).decode()}"
        kind = "hex"
    if kind == "hex":
        shown = value[:VIEW_BYTES]
        lines = (
            f"{offset:08x}  {shown[offset : offset + 16].hex(' ')}"
            for offset in range(0, len(shown), 16)
        )
        return kind, "\n".join(lines)
    return "text", value.decode("utf-8", "replace")


async def value(page: Page) -> Response:
    key = page.query.get("key", "")
    entry = await _entry(page, key)
    if entry is None:
        raise Refused(404, f"no key {key!r} in this namespace (it may have expired)")
    response = await page.v4.raw("GET", f"{_rest(page)}/values/{segment(key)}")
    data = await read_all(response)
    kind, shown = view_of(data, page.query.get("as"))
    editable = None
    with contextlib.suppress(UnicodeDecodeError):
        editable = data.decode("utf-8")
    return page.render(
        "kv_value.html",
        base=_base(page),
        namespace=_ns(page),
        key=key,
        size=len(data),
        kind=kind,
        shown=shown,
        editable=editable,
        metadata=orjson.dumps(entry["metadata"]).decode() if "metadata" in entry else "",
        expires=_expiry(entry.get("expiration")),
    )


async def put(page: Page) -> Response:
    form = await page.form()
    key = form.get("key", "")
    pair: dict[str, Any] = {"key": key, "value": form.get("value", "")}
    if form.get("metadata", "").strip():
        try:
            pair["metadata"] = orjson.loads(form["metadata"])
        except orjson.JSONDecodeError as exc:
            return redirect(_base(page), problem=f"metadata is not JSON: {exc}")
    ttl = form.get("expiration_ttl", "").strip()
    if ttl:
        if not ttl.isdigit():
            return redirect(_base(page), problem="expiration TTL must be a number of seconds")
        pair["expiration_ttl"] = int(ttl)
    try:
        await page.v4.result("PUT", f"{_rest(page)}/bulk", None, [pair])
    except V4Error as exc:
        return redirect(_base(page), problem=exc.message)
    return redirect(f"{_base(page)}/value?key={segment(key)}", notice=f"{key} saved")


async def delete(page: Page) -> Response:
    key = (await page.form()).get("key", "")
    try:
        await page.v4.result("DELETE", f"{_rest(page)}/values/{segment(key)}")
    except V4Error as exc:
        return redirect(_base(page), problem=exc.message)
    return redirect(_base(page), notice=f"{key} deleted")


async def _names(page: Page, prefix: str) -> list[str]:
    names: list[str] = []
    cursor = ""
    while len(names) < BULK_DELETE:
        query = {"prefix": prefix, "limit": "1000"}
        if cursor:
            query["cursor"] = cursor
        listed = await page.v4.envelope("GET", f"{_rest(page)}/keys", query)
        names += [k["name"] for k in listed["result"]]
        cursor = listed.get("result_info", {}).get("cursor", "")
        if not cursor:
            break
    return names[:BULK_DELETE]


async def delete_prefix(page: Page) -> Response:
    """First a confirmation page naming how many keys would go, then the bulk delete."""
    form = await page.form()
    prefix = form.get("prefix", "")
    names = await _names(page, prefix)
    if form.get("confirm") != "yes":
        return page.render(
            "kv_confirm.html", base=_base(page), prefix=prefix, count=len(names), sample=names[:20]
        )
    if names:
        await page.v4.result("POST", f"{_rest(page)}/bulk/delete", None, names)
    return redirect(_base(page), notice=f"{len(names)} keys under {prefix!r} deleted")


ROUTES = [
    ("GET", "/kv", namespaces),
    ("GET", "/kv/{namespace}", keys),
    ("GET", "/kv/{namespace}/value", value),
    ("POST", "/kv/{namespace}/put", put),
    ("POST", "/kv/{namespace}/delete", delete),
    ("POST", "/kv/{namespace}/delete-prefix", delete_prefix),
]
