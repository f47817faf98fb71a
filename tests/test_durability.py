"""Acknowledged KV and R2 writes survive SIGKILL of the shim at random moments.

A client keeps writing (small values inline in the index, larger ones as blob
files) while the shim is killed several times; the supervisor restarts it.
Afterwards every acknowledged write reads back intact, nothing is partially
visible, the index and the blob folder agree, and SQLite finds no corruption.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.stack import WORKERS, component_pid, request, restarted

WORKER = WORKERS / "durable" / "wrangler.toml"
SIZES = (100, 10_000, 70_000, 1_000_000, 3_000_000)
KILLS = 4  # the supervisor calls five failures a minute a crash loop


def content(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def path_of(store: str, key: str) -> str:
    return f"/{store}/{urllib.parse.quote(key, safe='')}"


class Writer(threading.Thread):
    """Writes until told to stop; remembers what the Worker acknowledged."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.acknowledged: dict[tuple[str, str], int] = {}
        self.attempted = 0

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            store = ("kv", "r2")[index % 2]
            key = f"key-{index}"
            size = SIZES[index % len(SIZES)]
            index += 1
            self.attempted += 1
            try:
                status, _ = request(self.url + path_of(store, key), content(key, size), "PUT")
            except OSError:
                continue
            if status == 200:
                self.acknowledged[(store, key)] = size


def kill_shim_and_wait(data_dir: Path) -> None:
    old = component_pid(data_dir, "shim")
    os.kill(old, signal.SIGKILL)
    restarted(data_dir, "shim", old)


def indexes(data_dir: Path) -> dict[str, Path]:
    return {
        "kv": data_dir / "kv" / "durability" / "index.sqlite",
        "r2": data_dir / "r2" / "durability" / "index.sqlite",
    }


def referenced_files(store: str, index: Path) -> set[str]:
    query = {
        "kv": "SELECT file FROM entries WHERE file IS NOT NULL",
        "r2": "SELECT file FROM objects WHERE file IS NOT NULL "
        "UNION ALL SELECT file FROM parts WHERE file IS NOT NULL",
    }[store]
    with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
        return {row[0] for row in conn.execute(query)}


def stored_keys(store: str, index: Path) -> list[str]:
    query = {"kv": "SELECT key FROM entries", "r2": "SELECT key FROM objects"}[store]
    with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
        return [
            row[0].decode() if isinstance(row[0], bytes) else row[0] for row in conn.execute(query)
        ]


def files_on_disk(index: Path) -> set[str]:
    blobs = index.parent / "blobs"
    return {p.name for p in blobs.glob("*/*") if p.parent.name != "tmp"}


@pytest.mark.slow
def test_acknowledged_writes_survive_sigkill_of_the_shim(tmp_data, stacks):
    stack = stacks([WORKER], tmp_data)
    writer = Writer(stack.url)
    writer.start()
    rng = random.Random(20261201)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.4, 1.2))
        kill_shim_and_wait(tmp_data)
    time.sleep(0.5)
    writer.stop.set()
    writer.join(60)
    assert stack.stop() == 0
    assert len(writer.acknowledged) >= 10, (writer.attempted, len(writer.acknowledged))

    for index in indexes(tmp_data).values():
        with sqlite3.connect(index) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    again = stacks([WORKER], tmp_data)  # its start-up sweep removes what crashes left behind
    for store, index in indexes(tmp_data).items():
        assert files_on_disk(index) == referenced_files(store, index)
        assert not list((index.parent / "blobs" / "tmp").iterdir())

    for (store, key), size in writer.acknowledged.items():
        status, body = request(again.url + path_of(store, key))
        assert status == 200, (store, key)
        assert json.loads(body) == {
            "size": size,
            "sha256": hashlib.sha256(content(key, size)).hexdigest(),
        }

    for store, index in indexes(tmp_data).items():
        for key in stored_keys(store, index):
            size = SIZES[int(key.split("-")[1]) % len(SIZES)]
            status, body = request(again.url + path_of(store, key))
            assert json.loads(body)["sha256"] == hashlib.sha256(content(key, size)).hexdigest()
