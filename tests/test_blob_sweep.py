"""The start-up sweep of KV and R2 blob folders deletes only its own half-written files.

Everything else no index row names (a crash's orphan, the files of a lost index, stray
directories, symbolic links) is moved into `quarantine/<UTC time>/` beside `blobs/`,
at the same relative path, and never followed. Real stores, files and SQLite.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest

from groundflare.shim.clock import Clock
from groundflare.shim.kv.store import KvStore
from groundflare.shim.r2.errors import R2Error
from groundflare.shim.r2.messages import Get, Put
from groundflare.shim.r2.store import R2Store

BIG = bytes(range(256)) * 400  # 102,400 bytes: a blob file, not an inline value
OURS = "0123456789abcdef0123456789abcdef"  # a file name the blob writer could have chosen


class Store(Protocol):
    root: Path

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class Kind:
    """Opens, writes and reads one kind of store the same way for every test."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.clock = Clock()

    async def open(self) -> Store:
        store: Store = (KvStore if self.name == "kv" else R2Store)(self.root, self.clock)
        await store.open()
        return store

    async def put(self, store: Store, key: str, data: bytes) -> None:
        if isinstance(store, KvStore):
            writer = store.writer()
            await writer.write(data)
            await store.put(key.encode(), await writer.finish(), None, None)
        else:
            assert isinstance(store, R2Store)
            await store.put(Put(method="put", object=key), _once(data), len(data))

    async def read(self, store: Store, key: str) -> bytes | None:
        if isinstance(store, KvStore):
            entry = await store.get(key.encode())
            return None if entry is None else await store.read_all(entry)
        assert isinstance(store, R2Store)
        try:
            body = store.get(Get(method="get", object=key)).body
        except R2Error:
            return None
        return body if isinstance(body, bytes) else b"".join([c async for c in body])


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture(params=["kv", "r2"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return Kind(request.param, tmp_path / request.param / "resource")


def blobs(kind: Kind) -> Path:
    return kind.root / "blobs"


def files_under(folder: Path) -> set[str]:
    """Every file and link under `folder` (links not followed), relative to it."""
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_symlink() or not path.is_dir()
    }


def quarantined(kind: Kind) -> Path:
    (folder,) = (kind.root / "quarantine").iterdir()
    return folder


async def restart(kind: Kind, store: Store) -> Store:
    await store.close()
    return await kind.open()


async def test_half_written_temp_files_of_our_naming_are_deleted(kind):
    store = await kind.open()
    (blobs(kind) / "tmp" / OURS).write_bytes(b"half a value")
    store = await restart(kind, store)
    assert files_under(blobs(kind)) == set()
    assert not (kind.root / "quarantine").exists()
    await store.close()


async def test_a_file_no_row_names_is_moved_aside_at_the_same_path(kind, caplog):
    store = await kind.open()
    await kind.put(store, "kept", BIG)
    (kept,) = files_under(blobs(kind))
    orphan = blobs(kind) / OURS[:2] / OURS  # a crash between its rename and the commit
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"orphan")
    (blobs(kind) / "tmp" / "someone-elses").write_bytes(b"not ours")
    store = await restart(kind, store)
    assert files_under(blobs(kind)) == {kept}
    folder = quarantined(kind)
    assert files_under(folder) == {f"{OURS[:2]}/{OURS}", "tmp/someone-elses"}
    assert (folder / OURS[:2] / OURS).read_bytes() == b"orphan"
    assert await kind.read(store, "kept") == BIG
    assert f"moved 2 entries no index row names to {folder}" in caplog.text
    assert "nothing was deleted" in caplog.text
    await store.close()


async def test_a_symbolic_link_is_moved_aside_as_a_link_and_never_followed(kind, tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / OURS).write_bytes(b"precious")
    (outside / "file").write_bytes(b"precious too")
    store = await kind.open()
    await kind.put(store, "kept", BIG)
    (kept,) = files_under(blobs(kind))
    shard = blobs(kind) / kept.split("/")[0]
    linked = "cd" if shard.name == "ab" else "ab"
    (blobs(kind) / linked).symlink_to(outside)  # a shard that is a link to a folder
    (blobs(kind) / "tmp" / OURS).symlink_to(outside / OURS)  # our naming, but a link
    (shard / ("f" * 32)).symlink_to(outside / "file")  # a link among the files
    store = await restart(kind, store)
    assert {p.name for p in outside.iterdir()} == {OURS, "file"}
    assert (outside / OURS).read_bytes() == b"precious"
    folder = quarantined(kind)
    moved = [folder / linked, folder / "tmp" / OURS, folder / shard.name / ("f" * 32)]
    assert all(path.is_symlink() for path in moved)
    assert (folder / linked).readlink() == outside
    assert files_under(blobs(kind)) == {kept}
    assert await kind.read(store, "kept") == BIG
    assert "3 of them symbolic links (not followed)" in caplog.text
    await store.close()


async def test_a_missing_index_starts_empty_and_its_blobs_can_be_put_back(kind, tmp_path, caplog):
    store = await kind.open()
    await kind.put(store, "a", BIG)
    await kind.put(store, "b", BIG[::-1])
    await store.close()
    backup = tmp_path / "backup"
    backup.mkdir()
    for index in kind.root.glob("index.sqlite*"):
        index.rename(backup / index.name)

    store = await kind.open()
    assert await kind.read(store, "a") is None
    assert files_under(blobs(kind)) == set()
    folder = quarantined(kind)
    assert len(files_under(folder)) == 2
    assert "the index was missing or empty" in caplog.text
    assert f"its 2 blob files were moved to {folder}" in caplog.text
    assert "Keys cannot be recovered from blob files" in caplog.text
    await store.close()

    for index in kind.root.glob("index.sqlite*"):
        index.unlink()
    for index in backup.iterdir():
        shutil.move(index, kind.root / index.name)
    shutil.copytree(folder, blobs(kind), dirs_exist_ok=True)
    store = await kind.open()
    assert await kind.read(store, "a") == BIG
    assert await kind.read(store, "b") == BIG[::-1]
    await store.close()


@pytest.mark.parametrize(
    "stray",
    ["ab/" + "c" * 32 + "/inner", "tmp/folder/inner", "not-a-shard/inner", "README"],
)
async def test_a_stray_directory_or_file_is_moved_aside_and_the_store_works(kind, stray):
    store = await kind.open()
    await store.close()
    planted = blobs(kind) / stray
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"stray")
    store = await kind.open()
    assert (quarantined(kind) / stray).read_bytes() == b"stray"
    await kind.put(store, "k", BIG)
    assert await kind.read(store, "k") == BIG
    await store.close()


async def test_a_temp_folder_that_is_a_file_is_moved_aside(kind):
    blobs(kind).mkdir(parents=True)
    (blobs(kind) / "tmp").write_bytes(b"not a folder")
    store = await kind.open()
    assert (quarantined(kind) / "tmp").read_bytes() == b"not a folder"
    await kind.put(store, "k", BIG)
    assert await kind.read(store, "k") == BIG
    await store.close()


async def test_a_quarantine_that_is_a_link_is_not_used_and_nothing_moves(kind, tmp_path, caplog):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    store = await kind.open()
    await store.close()
    (kind.root / "quarantine").symlink_to(outside)
    stray = blobs(kind) / "ab" / OURS
    stray.parent.mkdir()
    stray.write_bytes(b"stray")
    caplog.set_level(logging.WARNING, logger="shim")
    store = await kind.open()
    assert stray.read_bytes() == b"stray"
    assert list(outside.iterdir()) == []
    assert f"left {stray} (" in caplog.text
    await store.close()


async def test_a_blob_folder_that_is_a_link_is_used_but_not_swept(kind, tmp_path, caplog):
    elsewhere = tmp_path / "another-disk"
    elsewhere.mkdir()
    kind.root.mkdir(parents=True)
    blobs(kind).symlink_to(elsewhere)
    store = await kind.open()
    await kind.put(store, "k", BIG)
    await store.close()
    (elsewhere / "someone-elses").write_bytes(b"not ours")
    store = await kind.open()
    assert await kind.read(store, "k") == BIG
    assert (elsewhere / "someone-elses").read_bytes() == b"not ours"
    assert not (kind.root / "quarantine").exists()
    assert f"{blobs(kind)} is a symbolic link; the sweep leaves it alone" in caplog.text
    await store.close()
