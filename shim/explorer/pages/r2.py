"""R2: buckets, folder-style browsing by `/`, object details, download, upload (streamed by
the page's script straight to the v4 object route, with its progress), delete, multipart
uploads in progress and their abort; all through the v4 routes (`/r2/buckets/...`)."""

from __future__ import annotations

from typing import Any

from groundflare.shim.explorer.v4 import V4Error, segment
from groundflare.shim.explorer.web import PREFIX, Page, Refused, redirect
from groundflare.shim.messages import Response

PAGE_OBJECTS = 100


def _bucket(page: Page) -> str:
    return page.params["bucket"]


def _rest(page: Page) -> str:
    return f"/r2/buckets/{segment(_bucket(page))}"


def _base(page: Page) -> str:
    return f"{PREFIX}/r2/{segment(_bucket(page))}"


def object_url(page: Page, key: str) -> str:
    """The v4 object route: the page downloads and uploads there with its session."""
    return page.v4.path(f"{_rest(page)}/objects/{segment(key)}")


async def buckets(page: Page) -> Response:
    found = await page.v4.result("GET", "/r2/buckets", {"per_page": "1000"})
    return page.render("r2_buckets.html", buckets=found["buckets"])


def _crumbs(prefix: str) -> list[tuple[str, str]]:
    """(label, prefix) for each folder of `prefix`."""
    parts = [p for p in prefix.split("/") if p]
    return [(part, "/".join(parts[: i + 1]) + "/") for i, part in enumerate(parts)]


async def listing(page: Page) -> Response:
    prefix = page.query.get("prefix", "")
    query = {"prefix": prefix, "delimiter": "/", "per_page": str(PAGE_OBJECTS)}
    if page.query.get("cursor"):
        query["cursor"] = page.query["cursor"]
    listed = await page.v4.envelope("GET", f"{_rest(page)}/objects", query)
    info = listed.get("result_info", {})
    uploads = await page.v4.result("GET", f"{_rest(page)}/uploads")
    return page.render(
        "r2_objects.html",
        bucket=_bucket(page),
        base=_base(page),
        prefix=prefix,
        crumbs=_crumbs(prefix),
        folders=info.get("delimited", []),
        objects=listed["result"],
        cursor=info.get("cursor", "") if info.get("is_truncated") else "",
        upload_base=object_url(page, prefix),
        uploads=[u for u in uploads if u["key"].startswith(prefix)],
    )


async def _head(page: Page, key: str) -> dict[str, Any]:
    listed = await page.v4.result(
        "GET", f"{_rest(page)}/objects", {"prefix": key, "per_page": "10"}
    )
    found = next((o for o in listed if o["key"] == key), None)
    if found is None:
        raise Refused(404, f"no object {key!r} in {_bucket(page)}")
    return dict(found)


async def details(page: Page) -> Response:
    key = page.query.get("key", "")
    found = await _head(page, key)
    folder = key.rpartition("/")[0]
    return page.render(
        "r2_object.html",
        bucket=_bucket(page),
        base=_base(page),
        key=key,
        o=found,
        folder=f"{folder}/" if folder else "",
        download=object_url(page, key),
    )


async def delete(page: Page) -> Response:
    key = (await page.form()).get("key", "")
    folder = key.rpartition("/")[0]
    back = f"{_base(page)}?prefix={segment(folder + '/')}" if folder else _base(page)
    try:
        await page.v4.result("DELETE", f"{_rest(page)}/objects/{segment(key)}")
    except V4Error as exc:
        return redirect(back, problem=exc.message)
    return redirect(back, notice=f"{key} deleted")


async def abort(page: Page) -> Response:
    form = await page.form()
    prefix = form.get("prefix", "")
    back = f"{_base(page)}?prefix={segment(prefix)}" if prefix else _base(page)
    try:
        await page.v4.result(
            "DELETE", f"{_rest(page)}/uploads/{segment(form.get('upload_id', ''))}"
        )
    except V4Error as exc:
        return redirect(back, problem=exc.message)
    return redirect(back, notice=f"the upload of {form.get('key', '')} was aborted")


ROUTES = [
    ("GET", "/r2", buckets),
    ("GET", "/r2/{bucket}", listing),
    ("GET", "/r2/{bucket}/object", details),
    ("POST", "/r2/{bucket}/delete", delete),
    ("POST", "/r2/{bucket}/abort", abort),
]
