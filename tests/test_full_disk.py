"""KV and R2 stores on a disk that fills up: a write fails whole, and the next one after
space returns succeeds on the same open store. Real files and SQLite on a real tmpfs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from groundflare.shim.clock import Clock
from groundflare.shim.kv.store import KvStore
from groundflare.shim.r2.messages import Put
from groundflare.shim.r2.store import R2Store
from groundflare.shim.space import is_no_space
from tests.tmpfs import fill, small_disk

SMALL, BIG = b"s" * 100, bytes(range(256)) * 1200  # an index row; a 300 KiB blob file


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", size="4M") as mount:
        yield mount


async def kv_put(store: KvStore, key: bytes, data: bytes) -> None:
    """As the binding stores a value: a blob abandoned on failure is aborted."""
    writer = store.writer()
    try:
        await writer.write(data)
        blob = await writer.finish()
    except BaseException:
        await writer.abort()
        raise
    await store.put(key, blob, None, None)


async def kv_value(store: KvStore, key: bytes) -> bytes | None:
    entry = await store.get(key)
    return None if entry is None else await store.read_all(entry)


async def r2_put(store: R2Store, key: str, data: bytes) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield data

    await store.put(Put(method="put", object=key), body(), len(data))


def leftovers(root: Path) -> list[Path]:
    """Blob files in the folder besides those of `kept`: temp files or orphans."""
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


async def test_a_kv_put_on_a_full_disk_fails_whole_and_the_next_one_succeeds(disk):
    store = KvStore(disk / "kv", Clock())
    await store.open()
    await kv_put(store, b"kept", BIG)
    kept = leftovers(store.root)
    filler = fill(disk)
    for key, data in ((b"small", SMALL), (b"big", BIG), (b"kept", SMALL)):
        with pytest.raises(Exception) as failure:
            await kv_put(store, key, data)
        assert is_no_space(failure.value), failure.value
    with pytest.raises(Exception) as failure:
        await store.delete(b"kept")
    assert is_no_space(failure.value)
    assert leftovers(store.root) == kept
    assert await kv_value(store, b"small") is None
    assert await kv_value(store, b"kept") == BIG

    filler.unlink()
    await kv_put(store, b"small", SMALL)
    await kv_put(store, b"big", BIG)
    assert [await kv_value(store, k) for k in (b"kept", b"small", b"big")] == [BIG, SMALL, BIG]
    await store.close()


async def test_an_r2_put_on_a_full_disk_fails_whole_and_the_next_one_succeeds(disk):
    store = R2Store(disk / "r2", Clock())
    await store.open()
    await r2_put(store, "kept", BIG)
    kept = leftovers(store.root)
    filler = fill(disk)
    for key, data in (("small", SMALL), ("big", BIG), ("kept", SMALL)):
        with pytest.raises(Exception) as failure:
            await r2_put(store, key, data)
        assert is_no_space(failure.value), failure.value
    assert leftovers(store.root) == kept
    assert store.head("kept").size == len(BIG)

    filler.unlink()
    await r2_put(store, "small", SMALL)
    await r2_put(store, "big", BIG)
    assert [store.head(k).size for k in ("kept", "small", "big")] == [len(BIG), 100, len(BIG)]
    await store.close()


async def test_a_namespace_opens_on_a_full_disk_and_its_expired_keys_read_as_missing(disk, caplog):
    clock = Clock()
    first = KvStore(disk / "kv", clock)
    await first.open()  # and stays open, so its WAL files stay, as after a crash
    await first.put(b"expiring", SMALL, None, int(clock.now()) + 60)
    await first.put(b"lasting", SMALL, None, None)
    clock.advance(61)
    fill(disk)
    store = KvStore(disk / "kv", clock)
    await store.open()  # its purge of expired keys waits for space
    assert "the disk is full; expired keys are deleted later" in caplog.text
    assert await kv_value(store, b"expiring") is None
    assert await kv_value(store, b"lasting") == SMALL
    await store.close()
    await first.close()
