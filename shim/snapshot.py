"""Copies of a resource's state that a test run restores before each test, without restarting
anything (docs/testing.md).

SQLite files are copied page by page with SQLite's backup API, into and out of the live
connection, so no reader or writer ever sees a file replaced under it. Blob files never
change once written (a new value is a new file), so a snapshot links them rather than
copying, and a restore links back the ones since deleted and discards the ones since added.
"""

from __future__ import annotations

import os
from pathlib import Path

import apsw

from groundflare.shim.blobs import Blob, BlobDir

INDEX_FILE = "index.sqlite"
BLOBS_FOLDER = "blobs"


def backup_into(conn: apsw.Connection, path: Path) -> None:
    """A copy of `conn`'s database at `path` (replacing what was there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    copy = apsw.Connection(str(path))
    try:
        with copy.backup("main", conn, "main") as backup:
            backup.step()
    finally:
        copy.close()


def restore_from(conn: apsw.Connection, path: Path) -> None:
    """`conn`'s database becomes the copy at `path`, in one step of SQLite's backup."""
    source = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        with conn.backup("main", source, "main") as backup:
            backup.step()
    finally:
        source.close()


def link_blobs(blobs: BlobDir, files: list[str], into: Path) -> None:
    """Hard links to `files` (the index's) under `into`, on the same file system."""
    folder = into / BLOBS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for file_id in files:
        os.link(blobs.path(file_id), folder / file_id)


def reconcile_blobs(blobs: BlobDir, files: list[str], source: Path) -> None:
    """After the index was restored from `source`: its `files` are back in place, and every
    other blob file is discarded (once no reader has it open)."""
    wanted = set(files)
    for file_id in wanted:
        live = blobs.path(file_id)
        if not live.exists():
            live.parent.mkdir(parents=True, exist_ok=True)
            os.link(source / BLOBS_FOLDER / file_id, live)
    for shard in blobs.root.iterdir():
        if shard == blobs.tmp or not shard.is_dir():
            continue
        for path in shard.iterdir():
            if path.name not in wanted:
                blobs.discard(Blob(size=0, file=path.name))
