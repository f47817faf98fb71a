"""R2's S3-compatible API on the REST listener: path-style `/<bucket>/<key>` and the
`/cdn-cgi/local/r2/s3/<bucket>/<key>` form Miniflare uses, SigV4-signed (docs/api.md).

Buckets are the R2 resources the shim serves (shim/live.py); objects go through each
bucket's store object, so the Workers' bindings see them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

import apsw
import orjson
from pydantic import ValidationError

from groundflare.shim.api.envelope import ApiError
from groundflare.shim.api.routes import Resources
from groundflare.shim.http import validation_summary
from groundflare.shim.messages import Request, Response
from groundflare.shim.r2 import listing
from groundflare.shim.r2.errors import R2Error
from groundflare.shim.r2.messages import ListObjects
from groundflare.shim.r2.rest import BUCKET_NAME, iso_ms
from groundflare.shim.r2.s3 import objects, uploads
from groundflare.shim.r2.s3.errors import S3Error, from_r2, no_such_bucket, not_implemented
from groundflare.shim.r2.s3.sigv4 import Credentials, Signed, verify
from groundflare.shim.r2.s3.xml import Node, document
from groundflare.shim.r2.store import R2Store
from groundflare.shim.space import is_no_space

log = logging.getLogger("shim")
KIND = "r2"
MINIFLARE_PREFIX = "/cdn-cgi/local/r2/s3"
OWNER: Node = [("ID", "groundflare"), ("DisplayName", "groundflare")]


def _internal() -> S3Error:
    return S3Error(500, "InternalError", "We encountered an internal error. Please try again.")


class S3:
    def __init__(self, resources: Resources, credentials: Credentials) -> None:
        self.resources = resources
        self.credentials = credentials

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path == MINIFLARE_PREFIX or path.startswith(MINIFLARE_PREFIX + "/"):
            path = path[len(MINIFLARE_PREFIX) :]
        try:
            signed = verify(request, self.credentials, datetime.now(UTC))
            if signed is None:
                raise S3Error(403, "AccessDenied", "Access Denied")
            return await self._route(request, path, signed)
        except S3Error as exc:
            return exc.response(path)
        except R2Error as exc:
            return from_r2(exc).response(path)
        except apsw.BusyError:
            log.warning("s3: %s %s met a lock held too long", request.method, path)
            return S3Error(503, "SlowDown", "Please reduce your request rate.").response(path)
        except ValidationError as exc:
            return S3Error(400, "InvalidArgument", validation_summary(exc)).response(path)
        except (OSError, apsw.FullError) as exc:
            if not is_no_space(exc):
                log.exception("s3: %s %s failed", request.method, path)
                return _internal().response(path)
            log.warning("s3: %s %s refused: %s", request.method, path, exc)
            return S3Error(507, "InternalError", "No space left on the disk.").response(path)
        except Exception:
            # A bug answers in S3's shape too; its traceback goes to the shim's log.
            log.exception("s3: %s %s failed", request.method, path)
            return _internal().response(path)

    async def _route(self, request: Request, path: str, signed: Signed) -> Response:
        raw_bucket, _, raw_key = path.lstrip("/").partition("/")
        bucket = unquote_to_bytes(raw_bucket.encode("latin-1")).decode("utf-8", "replace")
        key = unquote_to_bytes(raw_key.encode("latin-1")).decode("utf-8", "replace")
        method, query = request.method, request.query
        if not bucket:
            if method == "GET":
                return self.list_buckets()
            raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed.")
        if not raw_key:
            return await self._bucket_operation(request, bucket, signed)
        store = self.store(bucket)
        if "uploadId" in query or (method == "POST" and "uploads" in query):
            return await uploads.handle(request, store, bucket, key, signed)
        handler = _OBJECT_OPERATIONS.get(method)
        if handler is None:
            raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed.")
        return await handler(self, request, store, key, signed)

    def store(self, bucket: str) -> R2Store:
        served = self.resources.served(KIND, bucket)
        if served is None or not isinstance(served.resource, R2Store):
            raise no_such_bucket(bucket)
        return served.resource

    # ---- buckets ----

    def list_buckets(self) -> Response:
        entries = sorted(self.resources.entries(KIND), key=lambda e: e.spec.id)
        buckets: Node = [
            ("Bucket", [("Name", e.spec.id), ("CreationDate", e.created_at)]) for e in entries
        ]
        return document("ListAllMyBucketsResult", [("Owner", OWNER), ("Buckets", buckets)])

    async def _bucket_operation(self, request: Request, bucket: str, signed: Signed) -> Response:
        method, query = request.method, request.query
        if method == "PUT" and not query:
            return await self.create_bucket(bucket)
        store = self.store(bucket)
        if method == "HEAD":
            return Response(headers={"x-amz-bucket-region": "auto"})
        if method == "DELETE" and not query:
            return await self.delete_bucket(bucket, store)
        if method == "POST" and "delete" in query:
            return await objects.delete_many(request, store, signed)
        if method == "GET" and "uploads" in query:
            return uploads.list_uploads(store, bucket, query)
        if method == "GET" and "location" in query:
            return document("LocationConstraint", [])
        if method == "GET" and not (set(query) - _LIST_PARAMETERS):
            return self.list_objects(store, bucket, query)
        raise not_implemented(f"{method} with ?{request.query_string} on a bucket")

    async def create_bucket(self, bucket: str) -> Response:
        if not BUCKET_NAME.fullmatch(bucket):
            raise S3Error(400, "InvalidBucketName", "The specified bucket is not valid.")
        if self.resources.served(KIND, bucket) is not None:
            raise S3Error(
                409,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
            )
        await self.resources.create(KIND, bucket, bucket)
        return Response(headers={"Location": f"/{bucket}"})

    async def delete_bucket(self, bucket: str, store: R2Store) -> Response:
        first = listing.list_objects(store.index.reader, ListObjects(method="list", limit=1))
        if first["objects"]:
            raise S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.")
        try:
            await self.resources.drop(KIND, bucket)
        except ApiError as exc:
            raise S3Error(409, "InvalidBucketState", exc.message) from exc
        return Response(status=204)

    def list_objects(self, store: R2Store, bucket: str, query: dict[str, str]) -> Response:
        v2 = query.get("list-type") == "2"
        try:
            wanted = int(query.get("max-keys", "1000"))
        except ValueError as exc:
            raise S3Error(400, "InvalidArgument", "max-keys must be an integer") from exc
        if wanted < 0:
            raise S3Error(400, "InvalidArgument", "max-keys must be >= 0")
        limit = min(wanted, listing.MAX_LIMIT)
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        start = query.get("start-after", "") if v2 else query.get("marker", "")
        cursor = query.get("continuation-token", "") if v2 else ""
        page: dict = {"objects": [], "truncated": False, "delimitedPrefixes": []}
        if limit > 0:
            request = ListObjects(
                method="list",
                limit=limit,
                prefix=prefix,
                delimiter=delimiter,
                start_after=start,
                cursor=cursor,
            )
            page = listing.list_objects(store.index.reader, request)
        encode = _key_encoder(query.get("encoding-type"))
        found = [orjson.loads(orjson.dumps(fragment)) for fragment in page["objects"]]
        contents = [_content(item, encode) for item in found]
        prefixes: list[tuple[str, Node]] = [
            ("CommonPrefixes", [("Prefix", encode(p))]) for p in page["delimitedPrefixes"]
        ]
        children: list[tuple[str, Node]] = [
            ("Name", bucket),
            ("Prefix", encode(prefix)),
            ("MaxKeys", wanted),
            ("IsTruncated", page["truncated"]),
        ]
        if delimiter:
            children.append(("Delimiter", encode(delimiter)))
        if query.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        if v2:
            children.append(("KeyCount", len(contents) + len(prefixes)))
            if cursor:
                children.append(("ContinuationToken", cursor))
            if start:
                children.append(("StartAfter", encode(start)))
            if page["truncated"] and "cursor" in page:
                children.append(("NextContinuationToken", page["cursor"]))
        else:
            children.append(("Marker", encode(start)))
            names = [item["name"] for item in found] + page["delimitedPrefixes"]
            if page["truncated"] and delimiter and names:
                children.append(("NextMarker", encode(max(names))))
        return document("ListBucketResult", children + contents + prefixes)


def _key_encoder(encoding: str | None) -> Callable[[str], str]:
    if encoding == "url":
        return lambda text: quote(text, safe="/")
    return lambda text: text


def _content(document_: dict, encode: Callable[[str], str]) -> tuple[str, Node]:
    return (
        "Contents",
        [
            ("Key", encode(document_["name"])),
            ("LastModified", iso_ms(int(document_["uploaded"]))),
            ("ETag", f'"{document_["etag"]}"'),
            ("Size", document_["size"]),
            ("StorageClass", "STANDARD"),
        ],
    )


_LIST_PARAMETERS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "marker",
        "start-after",
        "continuation-token",
        "encoding-type",
        "fetch-owner",
    }
)

ObjectHandler = Callable[[S3, Request, R2Store, str, Signed], Awaitable[Response]]
_OBJECT_OPERATIONS: dict[str, ObjectHandler] = {
    "GET": lambda s3, r, store, key, signed: objects.get(r, store, key, head=False),
    "HEAD": lambda s3, r, store, key, signed: objects.get(r, store, key, head=True),
    "PUT": lambda s3, r, store, key, signed: objects.put(r, store, key, signed, s3.store),
    "DELETE": lambda s3, r, store, key, signed: objects.delete(store, key),
}
