"""Multipart uploads: parts as blobs, completion as one index transaction.

A completed object references its parts' blobs instead of copying them into
one file: completing a 5 GiB upload costs a few row updates, and a crash
either leaves the upload open or the object whole. Part ETags are the part's
MD5 and the object's ETag is MD5-of-MD5s + `-N`, as production does since
2023 (Miniflare uses random part ETags). Uploads left open for seven days are
aborted, production's default lifecycle rule.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterable
from dataclasses import dataclass

import apsw

from groundflare.shim.blobs import Blob, BlobWriter
from groundflare.shim.r2 import errors, rows
from groundflare.shim.r2.messages import (
    AbortMultipartUpload,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    PublishedPart,
    UploadPart,
)
from groundflare.shim.r2.objects import ObjectMeta, ObjectRecord, check_key, object_meta
from groundflare.shim.r2.store import R2Store, new_version
from groundflare.shim.space import is_no_space

MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_BYTES = 5 * 1024**3
MAX_PART_NUMBER = 10_000
UPLOAD_LIFETIME_MS = 7 * 24 * 3600 * 1000
OPEN, COMPLETED, ABORTED = 0, 1, 2
NO_CHECKSUMS = b"{}"


@dataclass(frozen=True)
class Upload:
    state: int
    meta: ObjectMeta


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    md5: bytes


def _upload(conn: apsw.Connection, upload_id: str, key: str, now: int) -> Upload | None:
    """The upload with this id for this key; one open past its lifetime counts as aborted."""
    for state, created, http, custom, storage_class, ssec in conn.execute(
        "SELECT state, created, http, custom, storage_class, ssec_key_md5 FROM uploads "
        "WHERE upload_id = ? AND key = ?",
        (upload_id, key),
    ):
        if state == OPEN and created < now - UPLOAD_LIFETIME_MS:
            state = ABORTED
        return Upload(state, ObjectMeta(http, custom, storage_class, ssec))
    return None


def _expire(conn: apsw.Connection, now: int) -> list[Blob]:
    """Abort the uploads open past their lifetime; returns their parts' blobs."""
    expired = conn.execute(
        "UPDATE uploads SET state = ? WHERE state = ? AND created < ? RETURNING upload_id",
        (ABORTED, OPEN, now - UPLOAD_LIFETIME_MS),
    )
    dropped: list[Blob] = []
    for (upload_id,) in list(expired):
        dropped += _drop_parts(conn, upload_id)
    return dropped


def _drop_parts(conn: apsw.Connection, upload_id: str) -> list[Blob]:
    files = conn.execute("DELETE FROM parts WHERE upload_id = ? RETURNING file", (upload_id,))
    return [Blob(size=0, file=file) for (file,) in list(files) if file is not None]


async def create(store: R2Store, request: CreateMultipartUpload) -> str:
    meta = object_meta(request)
    upload_id = secrets.token_urlsafe(48)
    now = store.clock.now_ms()

    def insert(conn: apsw.Connection) -> list[Blob]:
        conn.execute(
            "INSERT INTO uploads (upload_id, key, http, custom, storage_class, ssec_key_md5, "
            "created, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                upload_id,
                request.object,
                meta.http,
                meta.custom,
                meta.storage_class,
                meta.ssec_key_md5,
                now,
                OPEN,
            ),
        )
        return _expire(conn, now)

    store.discard(await store.index.write(insert))
    return upload_id


async def upload_part(
    store: R2Store, request: UploadPart, payload: AsyncIterable[bytes], size: int
) -> str:
    """Store one part (replacing an earlier one with its number); returns its ETag."""
    check_key(request.object)
    if not 1 <= request.part_number <= MAX_PART_NUMBER:
        raise errors.invalid_metadata()
    if size > MAX_PART_BYTES:
        raise errors.entity_too_large()
    upload = _upload(store.index.reader, request.upload_id, request.object, store.clock.now_ms())
    if upload is None or upload.state != OPEN:
        raise errors.no_such_upload()
    writer = BlobWriter(store.blobs, ["md5"])
    try:
        try:
            blob = await writer.consume(payload, size)
        except OSError as exc:
            if is_no_space(exc):
                raise  # the binding answers and logs it
            raise errors.internal_error() from exc

        def record_part(conn: apsw.Connection) -> list[Blob]:
            now = store.clock.now_ms()
            current = _upload(conn, request.upload_id, request.object, now)
            if current is None or current.state != OPEN:
                raise errors.no_such_upload()
            replaced = conn.execute(
                "DELETE FROM parts WHERE upload_id = ? AND part_number = ? RETURNING file",
                (request.upload_id, request.part_number),
            )
            dropped = [Blob(size=0, file=f) for (f,) in list(replaced) if f is not None]
            conn.execute(
                "INSERT INTO parts (upload_id, part_number, size, md5, file, value) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request.upload_id,
                    request.part_number,
                    blob.size,
                    blob.digests["md5"],
                    blob.file,
                    blob.inline,
                ),
            )
            return dropped

        dropped = await store.index.write(record_part)
    except BaseException:
        await writer.abort()
        raise
    store.discard(dropped)
    return blob.digests["md5"].hex()


def _chosen_parts(conn: apsw.Connection, upload_id: str, listed: list[PublishedPart]) -> list[Part]:
    """The listed parts in part-number order, checked against production's rules."""
    numbers = [p.part for p in listed]
    if len(set(numbers)) != len(numbers):
        raise errors.internal_error()
    uploaded = {
        number: Part(number, size, md5)
        for number, size, md5 in conn.execute(
            "SELECT part_number, size, md5 FROM parts WHERE upload_id = ?", (upload_id,)
        )
    }
    chosen = []
    for published in listed:
        part = uploaded.get(published.part)
        if part is None or part.md5.hex() != published.etag:
            raise errors.invalid_part()
        chosen.append(part)
    if not chosen:
        raise errors.bad_upload()
    if any(part.size < MIN_PART_BYTES for part in chosen[:-1]):
        raise errors.entity_too_small()
    chosen.sort(key=lambda part: part.number)
    part_size = chosen[0].size
    if any(part.size != part_size for part in chosen[:-1]) or chosen[-1].size > part_size:
        raise errors.bad_upload()
    return chosen


def multipart_etag(md5s: list[bytes]) -> str:
    """S3's form: the MD5 of the parts' binary MD5s, then `-<number of parts>`."""
    return f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{len(md5s)}"


async def complete(store: R2Store, request: CompleteMultipartUpload) -> ObjectRecord:
    check_key(request.object)
    now = store.clock.now_ms()

    def finish(conn: apsw.Connection) -> tuple[ObjectRecord, list[Blob]]:
        upload = _upload(conn, request.upload_id, request.object, now)
        if upload is None:
            raise errors.internal_error()
        if upload.state != OPEN:
            raise errors.no_such_upload()
        chosen = _chosen_parts(conn, request.upload_id, request.parts)
        keep = ",".join(str(part.number) for part in chosen)
        dropped = [
            Blob(size=0, file=file)
            for (file,) in conn.execute(
                f"DELETE FROM parts WHERE upload_id = ? AND part_number NOT IN ({keep}) "
                "RETURNING file",
                (request.upload_id,),
            )
            if file is not None
        ]
        record = ObjectRecord(
            key=request.object,
            version=new_version(),
            size=sum(part.size for part in chosen),
            etag=multipart_etag([part.md5 for part in chosen]),
            uploaded=now,
            meta=upload.meta,
            checksums=NO_CHECKSUMS,
            blob=None,
            upload_id=request.upload_id,
        )
        dropped += rows.remove(conn, request.object)
        rows.insert(conn, record)
        conn.execute(
            "UPDATE uploads SET state = ? WHERE upload_id = ?", (COMPLETED, request.upload_id)
        )
        return record, dropped + _expire(conn, now)

    record, dropped = await store.index.write(finish)
    store.discard(dropped)
    return record


async def abort(store: R2Store, request: AbortMultipartUpload) -> None:
    """Drop an open upload's parts; aborting a finished upload again is a no-op."""
    check_key(request.object)
    now = store.clock.now_ms()

    def drop(conn: apsw.Connection) -> list[Blob]:
        upload = _upload(conn, request.upload_id, request.object, now)
        if upload is None:
            raise errors.internal_error()
        if upload.state != OPEN:
            return _expire(conn, now)
        conn.execute(
            "UPDATE uploads SET state = ? WHERE upload_id = ?", (ABORTED, request.upload_id)
        )
        return _drop_parts(conn, request.upload_id) + _expire(conn, now)

    store.discard(await store.index.write(drop))
