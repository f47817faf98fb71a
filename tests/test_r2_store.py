"""The bucket store in-process: blob lifetimes, lock waits, upload expiry, cursors.

Behaviour a Worker can observe is tested through workerd (test_r2_*); these are
the properties behind it that a Worker cannot provoke on demand.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import apsw
import pytest

from groundflare.shim.clock import Clock
from groundflare.shim.r2 import listing, multipart
from groundflare.shim.r2.errors import R2Error
from groundflare.shim.r2.messages import (
    CompleteMultipartUpload,
    CreateMultipartUpload,
    Get,
    ListObjects,
    PublishedPart,
    Put,
    UploadPart,
)
from groundflare.shim.r2.store import R2Store

MiB = 1024 * 1024


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[R2Store]:
    bucket = R2Store(tmp_path / "bucket", Clock())
    await bucket.open()
    yield bucket
    await bucket.close()


async def chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def put(store: R2Store, key: str, data: bytes) -> None:
    await store.put(Put(method="put", object=key), chunks(data), len(data))


def blob_files(store: R2Store) -> set[Path]:
    return {p for p in store.blobs.root.rglob("*") if p.is_file()}


async def test_a_replaced_value_stays_readable_until_its_reader_finishes(store):
    old = b"o" * (3 * MiB)
    await put(store, "k", old)
    (old_file,) = blob_files(store)
    served = store.get(Get(method="get", object="k"))
    await put(store, "k", b"n" * (3 * MiB))
    await store.delete(["k"])
    assert old_file.exists()  # pinned by the get in flight
    received = b"".join([chunk async for chunk in served.body])
    assert received == old
    assert blob_files(store) == set()


async def test_a_body_dropped_unread_releases_its_files(store):
    await put(store, "k", b"o" * (3 * MiB))
    (old_file,) = blob_files(store)
    served = store.get(Get(method="get", object="k"))
    await put(store, "k", b"new")
    assert old_file.exists()
    del served  # the server never sent it (say, workerd went away first)
    assert not old_file.exists()


async def test_a_write_that_meets_a_lock_waits_on_the_thread(store):
    other = apsw.Connection(str(store.index.path))
    other.execute("BEGIN IMMEDIATE")
    writing = asyncio.ensure_future(put(store, "k", b"v"))
    await asyncio.sleep(0.2)
    assert not writing.done()
    with pytest.raises(R2Error):  # reads do not wait for the lock
        store.head("k")
    other.execute("ROLLBACK")
    await asyncio.wait_for(writing, 5)
    assert store.head("k").size == 1
    other.close()


async def test_writes_keep_their_order_behind_a_waiting_one(store):
    other = apsw.Connection(str(store.index.path))
    other.execute("BEGIN IMMEDIATE")
    first = asyncio.ensure_future(put(store, "k", b"first"))
    await asyncio.sleep(0.1)
    second = asyncio.ensure_future(put(store, "k", b"second"))
    await asyncio.sleep(0.1)
    other.execute("ROLLBACK")
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert store.head("k").etag == hashlib.md5(b"second").hexdigest()
    other.close()


async def test_uploads_expire_after_seven_days(store):
    upload_id = await multipart.create(
        store, CreateMultipartUpload(method="createMultipartUpload", object="k")
    )
    part = UploadPart(method="uploadPart", object="k", upload_id=upload_id, part_number=1)
    etag = await multipart.upload_part(store, part, chunks(b"p" * MiB), MiB)
    assert len(blob_files(store)) == 1
    store.clock.advance(7 * 24 * 3600 + 1)
    with pytest.raises(R2Error) as failure:
        await multipart.upload_part(store, part, chunks(b"p"), 1)
    assert failure.value.v4code == 10024
    complete = CompleteMultipartUpload(
        method="completeMultipartUpload",
        object="k",
        upload_id=upload_id,
        parts=[PublishedPart(etag=etag, part=1)],
    )
    with pytest.raises(R2Error) as failure:
        await multipart.complete(store, complete)
    assert failure.value.v4code == 10024
    await multipart.create(store, CreateMultipartUpload(method="createMultipartUpload", object="j"))
    assert blob_files(store) == set()  # the expired upload's parts went


async def test_orphans_are_swept_at_open(tmp_path):
    store = R2Store(tmp_path / "bucket", Clock())
    await store.open()
    await put(store, "kept", b"k" * (2 * MiB))
    (kept,) = blob_files(store)
    await store.close()
    stray = store.blobs.root / "ff" / "ff00"
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"x")
    (store.blobs.tmp / "partial").write_bytes(b"x")
    reopened = R2Store(tmp_path / "bucket", Clock())
    await reopened.open()
    assert blob_files(reopened) == {kept}
    assert reopened.head("kept").size == 2 * MiB
    await reopened.close()


def test_cursors_are_base64_of_the_last_key(store):
    request = ListObjects(method="list", limit=1)
    assert listing.list_objects(store.index.reader, request) == {
        "objects": [],
        "truncated": False,
        "delimitedPrefixes": [],
    }
    with pytest.raises(R2Error) as failure:
        listing.list_objects(store.index.reader, ListObjects(method="list", cursor="%%%"))
    assert failure.value.v4code == 10029


@pytest.mark.parametrize(
    ("prefix", "after"),
    [("a", "b"), ("a/", "a0"), ("a\U0010ffff", "b"), ("\ud7ff", "\ue000"), ("\U0010ffff", None)],
)
def test_the_successor_of_a_prefix_bounds_every_key_under_it(prefix, after):
    assert listing.successor(prefix) == after
    if after is not None:
        assert (prefix + "\U0010ffff" * 3).encode("utf-8", "surrogatepass") < after.encode(
            "utf-8", "surrogatepass"
        )


def test_the_multipart_etag_of_the_r2_documentation():
    md5s = ["bce6bf66aeb76c7040fdd5f4eccb78e6", "8165449fc15bbf43d3b674595cbcc406"]
    etag = multipart.multipart_etag([bytes.fromhex(m) for m in md5s])
    assert etag == "f77dc0eecdebcd774a2a22cb393ad2ff-2"
