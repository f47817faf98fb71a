"""R2's v4 REST routes: buckets (list, create, get, delete) and objects as wrangler's
`r2 object` commands call them (get, put, delete) plus a listing (docs/api.md).

Objects go through the bucket's store object the binding uses: a put streams into a
blob file and commits in the index exactly as a Worker's put does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from groundflare.shim.api.envelope import ApiError, ok
from groundflare.shim.api.routes import ACCOUNT, Call, Route, RouteHandler
from groundflare.shim.catalogue import Entry
from groundflare.shim.messages import Response
from groundflare.shim.r2 import listing, open_uploads
from groundflare.shim.r2.errors import R2Error
from groundflare.shim.r2.messages import Get, HttpFields, ListObjects, Put
from groundflare.shim.r2.objects import ObjectRecord, metadata
from groundflare.shim.r2.store import R2Store

KIND = "r2"
BUCKETS = f"{ACCOUNT}/r2/buckets"
BUCKET = f"{BUCKETS}/{{bucket}}"
OBJECT = f"{BUCKET}/objects/{{key:path}}"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
NO_SUCH_BUCKET = (404, 10006, "The specified bucket does not exist.")
# The headers a put's http metadata comes from, as wrangler sends them.
HTTP_HEADERS = {
    "content-type": "content_type",
    "content-language": "content_language",
    "content-disposition": "content_disposition",
    "content-encoding": "content_encoding",
    "cache-control": "cache_control",
}


class NewBucket(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str
    location_hint: str | None = Field(default=None, alias="locationHint")
    storage_class: str | None = Field(default=None, alias="storageClass")


def _describe(entry: Entry) -> dict[str, Any]:
    return {
        "name": entry.spec.id,
        "creation_date": entry.created_at,
        "location": "LOCAL",
        "storage_class": "Standard",
    }


def bucket(call: Call) -> tuple[Entry, R2Store]:
    wanted = call.param("bucket")
    for entry in call.resources.entries(KIND):
        if entry.spec.id == wanted:
            served = call.resources.served(KIND, wanted)
            assert served is not None and isinstance(served.resource, R2Store)
            return entry, served.resource
    raise ApiError(*NO_SUCH_BUCKET)


def iso_ms(millis: int) -> str:
    return (
        datetime.fromtimestamp(millis / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def describe_object(document: dict[str, Any]) -> dict[str, Any]:
    """The binding's object metadata (R2HeadResponse JSON) in the v4 API's spelling."""
    http = document.get("httpFields") or {}
    custom = {field["k"]: field["v"] for field in document.get("customFields") or []}
    return {
        "key": document["name"],
        "version": document["version"],
        "size": document["size"],
        "etag": document["etag"],
        "last_modified": iso_ms(int(document["uploaded"])),
        "http_metadata": {k[0].upper() + k[1:]: v for k, v in http.items()},
        "custom_metadata": custom,
        "storage_class": document["storageClass"],
    }


def _plain(record: ObjectRecord) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(metadata(record)))


async def list_buckets(call: Call) -> Response:
    query = call.request.query
    contains = query.get("name_contains", "")
    start_after = query.get("start_after") or query.get("cursor") or ""
    per_page = int(query.get("per_page", "1000"))
    entries = sorted(
        (e for e in call.resources.entries(KIND) if contains in e.spec.id),
        key=lambda e: e.spec.id,
    )
    after = [e for e in entries if e.spec.id > start_after]
    chosen = after[:per_page]
    cursor = chosen[-1].spec.id if len(after) > per_page else ""
    return ok({"buckets": [_describe(e) for e in chosen]}, {"cursor": cursor, "per_page": per_page})


async def create_bucket(call: Call) -> Response:
    body = NewBucket.model_validate_json(await call.request.body.read(64 * 1024))
    if not BUCKET_NAME.fullmatch(body.name):
        raise ApiError(
            400,
            10005,
            "The specified bucket name is not valid: 3 to 63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit.",
        )
    if call.resources.served(KIND, body.name) is not None:
        raise ApiError(409, 10004, "The bucket you tried to create already exists, and you own it.")
    return ok(_describe(await call.resources.create(KIND, body.name, body.name)))


async def get_bucket(call: Call) -> Response:
    entry, _ = bucket(call)
    return ok(_describe(entry))


async def delete_bucket(call: Call) -> Response:
    entry, store = bucket(call)
    first = listing.list_objects(store.index.reader, ListObjects(method="list", limit=1))
    if first["objects"]:
        raise ApiError(409, 10008, "The bucket you tried to delete is not empty.")
    await call.resources.drop(KIND, entry.spec.id)
    return ok(None)


async def list_objects(call: Call) -> Response:
    _, store = bucket(call)
    query = call.request.query
    request = ListObjects(
        method="list",
        limit=int(query.get("per_page") or query.get("limit") or 1000),
        prefix=query.get("prefix", ""),
        cursor=query.get("cursor", ""),
        delimiter=query.get("delimiter", ""),
        start_after=query.get("start_after", ""),
        include=[listing.HTTP_METADATA, listing.CUSTOM_METADATA],
    )
    page = orjson.loads(orjson.dumps(listing.list_objects(store.index.reader, request)))
    info = {
        "cursor": page.get("cursor", ""),
        "is_truncated": page["truncated"],
        "delimited": page["delimitedPrefixes"],
        "per_page": request.limit,
    }
    return ok([describe_object(o) for o in page["objects"]], info)


async def get_object(call: Call) -> Response:
    _, store = bucket(call)
    served = store.get(Get(method="get", object=call.param("key")))
    record = served.record
    http = orjson.loads(record.meta.http) if record.meta.http else {}
    headers = {
        "Content-Type": http.get("contentType", "application/octet-stream"),
        "ETag": f'"{record.etag}"',
        "Last-Modified": datetime.fromtimestamp(record.uploaded / 1000, UTC).strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        ),
    }
    for header, field in (
        ("Content-Language", "contentLanguage"),
        ("Content-Disposition", "contentDisposition"),
        ("Content-Encoding", "contentEncoding"),
        ("Cache-Control", "cacheControl"),
    ):
        if field in http:
            headers[header] = http[field]
    if isinstance(served.body, bytes):
        return Response(body=served.body, headers=headers)
    return Response(body=served.body, headers=headers, length=served.span[1])


async def put_object(call: Call) -> Response:
    _, store = bucket(call)
    request = call.request
    fields = {
        name: request.headers[header]
        for header, name in HTTP_HEADERS.items()
        if header in request.headers
    }
    put = Put(
        method="put",
        object=call.param("key"),
        http_fields=HttpFields(**fields) if fields else None,
        storage_class=request.headers.get("cf-r2-storage-class"),
    )
    declared = request.headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else None
    record = await store.put(put, request.body.chunks(), size)
    return ok(describe_object(_plain(record)))


async def delete_object(call: Call) -> Response:
    _, store = bucket(call)
    await store.delete([call.param("key")])
    return ok({})


async def list_uploads(call: Call) -> Response:
    """Multipart uploads in progress with their parts so far (a local addition)."""
    _, store = bucket(call)
    uploads = open_uploads.list_open(store)
    for upload in uploads:
        upload["initiated"] = iso_ms(upload.pop("initiated_ms"))
    return ok(uploads)


async def abort_upload(call: Call) -> Response:
    """Abort a multipart upload, as the binding's abort() does (a local addition)."""
    _, store = bucket(call)
    await open_uploads.abort(store, call.param("upload_id"))
    return ok({})


def _r2_errors(handler: RouteHandler) -> RouteHandler:
    """The store's refusals (R2Error: status, v4 code, message) as v4 errors."""

    async def wrapped(call: Call) -> Response:
        try:
            return await handler(call)
        except R2Error as exc:
            raise ApiError(exc.status, exc.v4code, exc.message) from exc

    return wrapped


def routes() -> list[Route]:
    table = [
        ("GET", BUCKETS, list_buckets),
        ("POST", BUCKETS, create_bucket),
        ("GET", BUCKET, get_bucket),
        ("DELETE", BUCKET, delete_bucket),
        ("GET", f"{BUCKET}/objects", list_objects),
        ("GET", OBJECT, get_object),
        ("PUT", OBJECT, put_object),
        ("DELETE", OBJECT, delete_object),
        ("GET", f"{BUCKET}/uploads", list_uploads),
        ("DELETE", f"{BUCKET}/uploads/{{upload_id}}", abort_upload),
    ]
    return [Route(method, path, _r2_errors(handler)) for method, path, handler in table]
