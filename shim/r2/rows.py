"""The objects table: rows to records and back, and the statements every write shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw

from groundflare.shim.blobs import Blob
from groundflare.shim.r2.objects import ObjectMeta, ObjectRecord

# Metadata first, the value last: a listing reads rows without touching inline values.
META_COLUMNS = (
    "key, version, size, etag, uploaded, http, custom, checksums, storage_class, "
    "ssec_key_md5, upload_id"
)
ALL_COLUMNS = f"{META_COLUMNS}, file, value"


def record(row: Sequence[Any]) -> ObjectRecord:
    """A record from META_COLUMNS (blob left out) or ALL_COLUMNS."""
    key, version, size, etag, uploaded, http, custom, checksums, storage_class, ssec, upload = row[
        :11
    ]
    blob = None
    if len(row) > 11 and upload is None:
        file, value = row[11], row[12]
        blob = Blob(size=size, file=file) if file is not None else Blob(size=size, inline=value)
    return ObjectRecord(
        key=key,
        version=version,
        size=size,
        etag=etag,
        uploaded=uploaded,
        meta=ObjectMeta(http=http, custom=custom, storage_class=storage_class, ssec_key_md5=ssec),
        checksums=checksums,
        blob=blob,
        upload_id=upload,
    )


def find(conn: apsw.Connection, key: str) -> ObjectRecord | None:
    for row in conn.execute(f"SELECT {ALL_COLUMNS} FROM objects WHERE key = ?", (key,)):
        return record(row)
    return None


def part_blobs(conn: apsw.Connection, upload_id: str) -> list[Blob]:
    """A completed upload's value, part by part, in part-number order."""
    rows = conn.execute(
        "SELECT size, file, value FROM parts WHERE upload_id = ? ORDER BY part_number",
        (upload_id,),
    )
    return [_blob(size, file, value) for size, file, value in rows]


def _blob(size: int, file: str | None, value: bytes | None) -> Blob:
    return Blob(size=size, file=file) if file is not None else Blob(size=size, inline=value)


def insert(conn: apsw.Connection, rec: ObjectRecord) -> None:
    blob = rec.blob
    meta = rec.meta
    conn.execute(
        f"INSERT INTO objects ({ALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rec.key,
            rec.version,
            rec.size,
            rec.etag,
            rec.uploaded,
            meta.http,
            meta.custom,
            rec.checksums,
            meta.storage_class,
            meta.ssec_key_md5,
            rec.upload_id,
            blob.file if blob else None,
            blob.inline if blob else None,
        ),
    )


def remove(conn: apsw.Connection, key: str) -> list[Blob]:
    """Delete an object's row; returns the blobs it held, to discard after the commit."""
    rows = list(conn.execute("DELETE FROM objects WHERE key = ? RETURNING file, upload_id", (key,)))
    if not rows:
        return []
    ((file, upload_id),) = rows
    if upload_id is not None:
        parts = conn.execute("DELETE FROM parts WHERE upload_id = ? RETURNING file", (upload_id,))
        return [Blob(size=0, file=f) for (f,) in parts if f is not None]
    return [Blob(size=0, file=file)] if file is not None else []
