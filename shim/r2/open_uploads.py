"""A bucket's multipart uploads in progress, for the explorer: listed with their parts so far,
and aborted as the binding's `abort()` does (local v4 routes: production's v4 API lists no
uploads; its S3 API does, shim/r2/s3/uploads.py, without the parts)."""

from __future__ import annotations

from typing import Any

from groundflare.shim.r2 import errors, multipart
from groundflare.shim.r2.messages import AbortMultipartUpload
from groundflare.shim.r2.store import R2Store


def _oldest(store: R2Store) -> int:
    """When the oldest upload still open started: one past its lifetime counts as aborted, as
    everywhere else."""
    return store.clock.now_ms() - multipart.UPLOAD_LIFETIME_MS


def list_open(store: R2Store) -> list[dict[str, Any]]:
    """Open uploads by key then start, with how many parts and bytes they have."""
    rows = store.index.reader.execute(
        "SELECT u.key, u.upload_id, u.created, count(p.part_number), total(p.size) "
        "FROM uploads u LEFT JOIN parts p ON p.upload_id = u.upload_id "
        "WHERE u.state = ? AND u.created >= ? GROUP BY u.upload_id ORDER BY u.key, u.created",
        (multipart.OPEN, _oldest(store)),
    )
    return [
        {
            "key": key,
            "upload_id": upload_id,
            "initiated_ms": created,
            "parts": parts,
            "size": int(size),
        }
        for key, upload_id, created, parts, size in rows
    ]


async def abort(store: R2Store, upload_id: str) -> None:
    """Abort an open upload by its id alone (the binding names its key too)."""
    found = store.index.reader.execute(
        "SELECT key FROM uploads WHERE upload_id = ? AND state = ? AND created >= ?",
        (upload_id, multipart.OPEN, _oldest(store)),
    ).fetchone()
    if found is None:
        raise errors.no_such_upload()
    request = AbortMultipartUpload(
        method="abortMultipartUpload", object=found[0], upload_id=upload_id
    )
    await multipart.abort(store, request)
