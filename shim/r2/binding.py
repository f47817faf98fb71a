"""workerd's R2 binding protocol (specs/r2.md A): GET / with a `CF-R2-Request` JSON header for
head, get and list; PUT / whose body starts with `CF-R2-Metadata-Size` bytes of JSON for
everything else. Answers carry metadata JSON the same way; failures carry `CF-R2-Error`,
storage faults included: a lock held too long (SQLITE_BUSY) or a full disk is production's
InternalError (500, 10001, "Please try again"), and the write it stopped changed nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import apsw
from pydantic import ValidationError

from groundflare.shim import wtf8
from groundflare.shim.messages import Body, Request, Response
from groundflare.shim.r2 import errors, listing, multipart
from groundflare.shim.r2.errors import R2Error
from groundflare.shim.r2.messages import (
    AbortMultipartUpload,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    Delete,
    Get,
    Head,
    Put,
    ReadRequest,
    UploadPart,
    WriteRequest,
)
from groundflare.shim.r2.objects import encode, metadata
from groundflare.shim.r2.store import R2Store
from groundflare.shim.space import is_no_space

log = logging.getLogger("shim")
REQUEST_HEADER = "cf-r2-request"
METADATA_SIZE_HEADER = "cf-r2-metadata-size"
# A delete of 1,000 maximal keys or a completion of 10,000 parts fits with room to spare.
MAX_REQUEST_METADATA = 4 * 1024 * 1024


async def handle(store: R2Store, request: Request) -> Response:
    try:
        if request.method == "GET":
            return _read(store, request)
        if request.method == "PUT":
            return await _write(store, request)
        raise errors.invalid_metadata()
    except R2Error as exc:
        return _failure(exc)
    except ConnectionError as exc:
        log.info("r2 %s: workerd went away mid-request: %s", store.root.name, exc)
        return _failure(errors.internal_error())
    except apsw.BusyError:
        log.warning("r2 %s: %s met a lock held too long", store.root.name, request.method)
        return _failure(errors.internal_error())
    except (OSError, apsw.FullError) as exc:
        if not is_no_space(exc):
            raise
        log.warning("r2 %s: %s refused: %s", store.root.name, request.method, exc)
        return _failure(errors.internal_error())


def _failure(exc: R2Error) -> Response:
    headers = {errors.ERROR_HEADER: exc.header()}
    if exc.metadata is None:
        return Response(status=exc.status, headers=headers)
    headers[METADATA_SIZE_HEADER] = str(len(exc.metadata))
    return Response(status=exc.status, headers=headers, body=exc.metadata)


def _with_metadata(document: dict[str, Any]) -> Response:
    """A GET-style answer: the size header, then the metadata JSON."""
    body = encode(document)
    return Response(headers={METADATA_SIZE_HEADER: str(len(body))}, body=body)


def _read(store: R2Store, request: Request) -> Response:
    raw = request.headers.get(REQUEST_HEADER)
    if raw is None:
        raise errors.invalid_metadata()
    try:
        # Header bytes arrive as latin-1 text; the JSON inside is UTF-8.
        message = wtf8.validate_json(ReadRequest, raw.encode("latin-1"))
    except (ValidationError, UnicodeEncodeError) as exc:
        raise errors.invalid_metadata() from exc
    if isinstance(message, Head):
        record = store.head(message.object)
        return _with_metadata(metadata(record, (0, record.size)))
    if isinstance(message, Get):
        served = store.get(message)
        head = encode(metadata(served.record, served.span))
        headers = {METADATA_SIZE_HEADER: str(len(head))}
        if isinstance(served.body, bytes):
            return Response(headers=headers, body=head + served.body)
        served.body.prepend(head)
        return Response(headers=headers, body=served.body, length=len(head) + served.span[1])
    return _with_metadata(listing.list_objects(store.index.reader, message))


def _sizes(request: Request) -> tuple[int, int]:
    """(metadata bytes, payload bytes) of a PUT-style request."""
    try:
        metadata_size = int(request.headers[METADATA_SIZE_HEADER])
        total = int(request.headers["content-length"])
    except (KeyError, ValueError) as exc:
        raise errors.invalid_metadata() from exc
    if not 0 <= metadata_size <= min(total, MAX_REQUEST_METADATA):
        raise errors.invalid_metadata()
    return metadata_size, total - metadata_size


async def _split(body: Body, size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes of the body, and an iterator over the rest."""
    chunks = body.chunks()
    prefix = bytearray()
    leftover = b""
    async for chunk in chunks:
        prefix += chunk
        if len(prefix) >= size:
            leftover = bytes(prefix[size:])
            del prefix[size:]
            break
    if len(prefix) < size:
        raise errors.invalid_metadata()
    return bytes(prefix), _rest(leftover, chunks)


async def _rest(leftover: bytes, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if leftover:
        yield leftover
    async for chunk in chunks:
        yield chunk


async def _write(store: R2Store, request: Request) -> Response:
    metadata_size, payload_size = _sizes(request)
    prefix, payload = await _split(request.body, metadata_size)
    try:
        message = wtf8.validate_json(WriteRequest, prefix)
    except ValidationError as exc:
        raise errors.invalid_metadata() from exc
    if isinstance(message, Put):
        record = await store.put(message, payload, payload_size)
        return Response(body=encode(metadata(record)))
    if isinstance(message, Delete):
        if message.objects is not None:
            await store.delete(message.objects)
        elif message.object is not None:
            await store.delete([message.object])
        else:
            raise errors.invalid_metadata()
        return Response()
    if isinstance(message, CreateMultipartUpload):
        upload_id = await multipart.create(store, message)
        return Response(body=encode({"uploadId": upload_id}))
    if isinstance(message, UploadPart):
        etag = await multipart.upload_part(store, message, payload, payload_size)
        return Response(body=encode({"etag": etag}))
    if isinstance(message, CompleteMultipartUpload):
        record = await multipart.complete(store, message)
        return Response(body=encode(metadata(record)))
    assert isinstance(message, AbortMultipartUpload)
    await multipart.abort(store, message)
    return Response()
