"""S3's multipart set: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts and ListMultipartUploads, on the binding's multipart
store (shim/r2/multipart.py): an upload begun over S3 can be completed by a Worker."""

from __future__ import annotations

from urllib.parse import quote

from groundflare.shim.messages import Request, Response
from groundflare.shim.r2 import multipart
from groundflare.shim.r2.messages import (
    AbortMultipartUpload,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    PublishedPart,
    UploadPart,
)
from groundflare.shim.r2.rest import iso_ms
from groundflare.shim.r2.s3.errors import S3Error, not_implemented
from groundflare.shim.r2.s3.objects import MAX_XML_BODY, new_object_fields, payload
from groundflare.shim.r2.s3.sigv4 import Signed
from groundflare.shim.r2.s3.xml import Node, children, document, local, parse, text
from groundflare.shim.r2.store import R2Store


async def handle(
    request: Request, store: R2Store, bucket: str, key: str, signed: Signed
) -> Response:
    method, query = request.method, request.query
    if method == "POST" and "uploads" in query:
        upload_id = await multipart.create(
            store,
            CreateMultipartUpload(
                method="createMultipartUpload", object=key, **new_object_fields(request)
            ),
        )
        return document(
            "InitiateMultipartUploadResult",
            [("Bucket", bucket), ("Key", key), ("UploadId", upload_id)],
        )
    upload_id = query["uploadId"]
    if method == "PUT" and "partNumber" in query:
        return await _upload_part(request, store, key, upload_id, signed)
    if method == "POST":
        return await _complete(request, store, bucket, key, upload_id, signed)
    if method == "DELETE":
        await multipart.abort(
            store,
            AbortMultipartUpload(method="abortMultipartUpload", object=key, upload_id=upload_id),
        )
        return Response(status=204)
    if method == "GET":
        return _list_parts(store, bucket, key, upload_id)
    raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed.")


async def _upload_part(
    request: Request, store: R2Store, key: str, upload_id: str, signed: Signed
) -> Response:
    try:
        number = int(request.query["partNumber"])
    except ValueError as exc:
        raise S3Error(400, "InvalidArgument", "Part number must be an integer") from exc
    if request.headers.get("x-amz-copy-source"):
        raise not_implemented("UploadPartCopy")
    data, length = payload(request, signed)
    message = UploadPart(method="uploadPart", object=key, upload_id=upload_id, part_number=number)
    etag = await multipart.upload_part(store, message, data, length)
    return Response(headers={"ETag": f'"{etag}"'})


async def _complete(
    request: Request, store: R2Store, bucket: str, key: str, upload_id: str, signed: Signed
) -> Response:
    data, _ = payload(request, signed)
    body = b""
    async for chunk in data:
        body += chunk
        if len(body) > MAX_XML_BODY * 4:
            raise S3Error(400, "MalformedXML", "The CompleteMultipartUpload body is too large")
    root = parse(body)
    if local(root.tag) != "CompleteMultipartUpload":
        raise S3Error(400, "MalformedXML", "The request body must be CompleteMultipartUpload")
    parts = []
    for part in children(root, "Part"):
        number, etag = text(part, "PartNumber"), text(part, "ETag")
        if number is None or etag is None or not number.isdigit():
            raise S3Error(400, "MalformedXML", "Each Part needs a PartNumber and an ETag")
        parts.append(PublishedPart(part=int(number), etag=etag.strip().strip('"')))
    numbers = [p.part for p in parts]
    if numbers != sorted(numbers):
        raise S3Error(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        )
    record = await multipart.complete(
        store,
        CompleteMultipartUpload(
            method="completeMultipartUpload", object=key, upload_id=upload_id, parts=parts
        ),
    )
    return document(
        "CompleteMultipartUploadResult",
        [
            ("Location", f"/{bucket}/{quote(key)}"),
            ("Bucket", bucket),
            ("Key", key),
            ("ETag", f'"{record.etag}"'),
        ],
    )


def _list_parts(store: R2Store, bucket: str, key: str, upload_id: str) -> Response:
    rows = list(
        store.index.reader.execute(
            "SELECT p.part_number, p.size, p.md5 FROM parts p JOIN uploads u "
            "ON u.upload_id = p.upload_id WHERE p.upload_id = ? AND u.key = ? AND u.state = ? "
            "ORDER BY p.part_number",
            (upload_id, key, multipart.OPEN),
        )
    )
    if not rows and _open_upload(store, upload_id, key) is None:
        raise S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist.")
    parts: list[tuple[str, Node]] = [
        ("Part", [("PartNumber", number), ("ETag", f'"{bytes(md5).hex()}"'), ("Size", size)])
        for number, size, md5 in rows
    ]
    return document(
        "ListPartsResult",
        [("Bucket", bucket), ("Key", key), ("UploadId", upload_id), ("IsTruncated", False), *parts],
    )


def _open_upload(store: R2Store, upload_id: str, key: str) -> int | None:
    found = list(
        store.index.reader.execute(
            "SELECT created FROM uploads WHERE upload_id = ? AND key = ? AND state = ?",
            (upload_id, key, multipart.OPEN),
        )
    )
    return found[0][0] if found else None


def list_uploads(store: R2Store, bucket: str, query: dict[str, str]) -> Response:
    prefix = query.get("prefix", "")
    rows = store.index.reader.execute(
        "SELECT key, upload_id, created FROM uploads WHERE state = ? ORDER BY key, created",
        (multipart.OPEN,),
    )
    uploads: list[tuple[str, Node]] = [
        ("Upload", [("Key", key), ("UploadId", upload_id), ("Initiated", iso_ms(created))])
        for key, upload_id, created in rows
        if key.startswith(prefix)
    ]
    return document(
        "ListMultipartUploadsResult",
        [("Bucket", bucket), ("Prefix", prefix), ("IsTruncated", False), *uploads],
    )
