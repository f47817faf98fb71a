"""The KV store in-process: crash recovery, blob file lifetimes, where index work runs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import apsw
import pytest

from groundflare.shim.clock import Clock
from groundflare.shim.kv.store import KvStore
from groundflare.shim.sqlite import OPEN_FLAGS

BIG = bytes(range(256)) * 400  # 102,400 bytes: a blob file, not an inline value


class Stores:
    """Opens the store of one folder, again after a close as a restart would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = Clock()
        self.open: list[KvStore] = []

    async def start(self) -> KvStore:
        store = KvStore(self.root, self.clock)
        await store.open()
        self.open.append(store)
        return store

    async def restart(self, store: KvStore) -> KvStore:
        self.open.remove(store)
        await store.close()
        return await self.start()


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    opened = Stores(tmp_path / "kv" / "ns")
    yield opened
    for store in opened.open:
        await store.close()


@pytest.fixture
async def store(stores: Stores) -> KvStore:
    return await stores.start()


async def put_blob(store: KvStore, key: bytes, data: bytes, expiration: int | None = None) -> None:
    writer = store.writer()
    await writer.write(data)
    await store.put(key, await writer.finish(), None, expiration)


async def value(store: KvStore, key: bytes) -> bytes | None:
    entry = await store.get(key)
    return None if entry is None else await store.read_all(entry)


def blob_files(store: KvStore) -> list[Path]:
    return sorted(p for p in store.blobs.root.rglob("*") if p.is_file())


async def test_the_folder_holds_the_index_and_blob_files_only(store):
    await store.put(b"small", b"inline", None, None)
    await put_blob(store, b"../../big", BIG)
    assert {p.name for p in store.root.iterdir()} >= {"index.sqlite", "blobs"}
    (file,) = blob_files(store)
    assert file.parent.parent == store.blobs.root
    assert len(file.name) == 32 and file.parent.name == file.name[:2]
    assert not list(store.root.parent.parent.rglob("*big*"))


async def test_small_values_live_in_the_index_row(store):
    await store.put(b"k", b"x" * 65536, '{"m":1}', None)
    entry = await store.get(b"k")
    assert entry is not None
    assert (entry.size, entry.file, entry.metadata) == (65536, None, '{"m":1}')
    assert blob_files(store) == []


async def test_a_small_put_and_get_never_leave_the_event_loop(store):
    await store.put(b"warm", b"up", None, None)
    jobs = store.executor.jobs_started
    for i in range(200):
        await store.put(b"k%d" % i, b"v" * 1024, None, None)
        assert await value(store, b"k%d" % i) == b"v" * 1024
    await store.delete(b"k0")
    await store.list(b"k", None, 1000)
    # Only a WAL checkpoint may have run on the thread meanwhile.
    assert store.executor.jobs_started - jobs <= 1


async def test_a_crash_between_blob_rename_and_index_commit_leaves_nothing_visible(stores, store):
    await put_blob(store, b"k", b"old" * 40_000)
    writer = store.writer()
    await writer.write(BIG)
    orphan = await writer.finish()  # fsynced and renamed into place, never indexed
    assert store.blobs.path(orphan.file).exists()
    store = await stores.restart(store)
    assert await value(store, b"k") == b"old" * 40_000
    assert not store.blobs.path(orphan.file).exists()
    assert len(blob_files(store)) == 1


async def test_the_sweep_at_open_clears_temp_and_unreferenced_files_out_of_blobs(stores, store):
    await put_blob(store, b"kept", BIG)
    (kept,) = blob_files(store)
    stray = store.blobs.root / "ab" / ("ab" + "0" * 30)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"orphan")
    (store.blobs.tmp / "half-written").write_bytes(b"partial")
    store = await stores.restart(store)
    assert blob_files(store) == [kept]
    assert await value(store, b"kept") == BIG


async def test_a_replaced_file_goes_after_the_commit(store):
    await put_blob(store, b"k", BIG)
    (first,) = blob_files(store)
    await put_blob(store, b"k", BIG[::-1])
    (second,) = blob_files(store)
    assert second != first
    await store.put(b"k", b"small now", None, None)
    assert blob_files(store) == []
    await put_blob(store, b"k", BIG)
    await store.delete(b"k")
    assert blob_files(store) == []


async def test_a_value_being_read_stays_readable_when_replaced(store):
    big = bytes(range(256)) * 8192  # 2 MiB: several chunks
    await put_blob(store, b"k", big)
    entry = await store.get(b"k")
    assert entry is not None
    stream = store.read(entry)
    received = [await anext(stream)]
    await put_blob(store, b"k", BIG)
    await store.delete(b"k")
    received += [chunk async for chunk in stream]
    assert b"".join(received) == big
    assert blob_files(store) == []


async def test_expired_rows_and_their_files_are_purged_at_open(stores, store):
    now = int(store.clock.now())
    await put_blob(store, b"expiring", BIG, expiration=now + 60)
    await store.put(b"inline", b"v", None, now + 60)
    await store.put(b"lasting", b"v", None, now + 3600)
    store.clock.advance(61)
    store = await stores.restart(store)
    lookup = store.index.lookup
    assert [await store.index.run(lookup, k) is None for k in (b"expiring", b"inline")] == [
        True,
        True,
    ]
    assert await value(store, b"lasting") == b"v"
    assert blob_files(store) == []


async def test_an_expired_key_is_deleted_when_read(store):
    await store.put(b"k", b"v", None, int(store.clock.now()) + 60)
    store.clock.advance(60)
    assert await store.get(b"k") is None
    assert await store.index.run(store.index.lookup, b"k") is None


async def test_a_write_that_meets_a_lock_waits_on_the_thread_and_keeps_order(store):
    await store.put(b"k", b"before", None, None)
    other = apsw.Connection(str(store.index.path), flags=OPEN_FLAGS)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    jobs = store.executor.jobs_started
    release.start()
    try:
        put = asyncio.ensure_future(store.put(b"k", b"after", None, None))
        await asyncio.sleep(0)
        get = asyncio.ensure_future(store.get(b"k"))
        entry = await get
        await put
    finally:
        release.join()
        other.close()
    assert entry is not None and entry.value == b"after"
    assert store.executor.jobs_started - jobs >= 2
    assert await value(store, b"k") == b"after"
