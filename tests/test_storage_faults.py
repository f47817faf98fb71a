"""Storage faults through real `groundflare serve` stacks: nothing acknowledged is lost.

A damaged SQLite file stops the stack with one line naming it; links, strays and a lost
index are moved aside at start, never deleted or followed; a full disk is an error the
Worker can read (KV 507, R2 InternalError 10001, D1 SQLITE_FULL), and the next write after
space returns succeeds without a restart.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from groundflare.contracts.names import file_part
from tests.conftest import KV_PROBE_NAMESPACE
from tests.stack import WORKERS, RunningStack, post_json, run_serve, run_steps
from tests.test_durability import files_on_disk, referenced_files
from tests.tmpfs import fill, small_disk
from tests.workers.r2.probe import pattern, pattern_md5

KV_WORKER = WORKERS / "kv" / "wrangler.toml"
R2_WORKER = WORKERS / "r2" / "wrangler.toml"
D1_WORKER = WORKERS / "d1" / "wrangler.toml"
KV_DIR = Path("kv") / file_part(KV_PROBE_NAMESPACE)
R2_DIR = Path("r2") / "probe"
D1_FILE = Path("d1") / "probe-00000000-0000-4000-8000-000000000001.sqlite"
BIG = 300_000  # bytes: a blob file; small values live in the index row
KV_FULL = (
    "failed: 507 Insufficient Storage: no space left on the disk holding this KV namespace; "
    "nothing was written. Free some space and try again"
)
D1_FULL = "D1_ERROR: database or disk is full: SQLITE_FULL"
R2_INTERNAL = "We encountered an internal error. Please try again. (10001)"


def steps(stack: RunningStack, worker: str, *step: dict[str, Any]) -> list[dict[str, Any]]:
    return post_json(stack.ready["workers"][worker], list(step))


def kv(stack: RunningStack, *step: dict[str, Any]) -> list[dict[str, Any]]:
    return steps(stack, "kv-probe", *step)


def r2(stack: RunningStack, *step: dict[str, Any]) -> list[dict[str, Any]]:
    return steps(stack, "r2-probe", *step)


def kv_put(key: str, size: int) -> dict[str, Any]:
    return {"op": "put", "key": key, "value": {"$fill": size % 251, "length": size}}


def kv_get(key: str) -> dict[str, Any]:
    return {"op": "get", "key": key, "options": "arrayBuffer", "digest": True}


def kv_read_back(size: int) -> dict[str, Any]:
    """What kv_get answers for a value kv_put stored."""
    digest = hashlib.sha256(bytes([size % 251]) * size).hexdigest()
    return {"ok": {"$length": size, "$sha256": digest}}


def r2_put(key: str, size: int) -> dict[str, Any]:
    return {"op": "put", "key": key, "value": pattern(size, seed=size % 7)}


def r2_get(key: str) -> dict[str, Any]:
    return {"op": "get", "key": key, "read": "digest"}


def r2_md5(size: int) -> str:
    return pattern_md5(size, seed=size % 7)


def both_workers(stacks: Any, data: Path) -> RunningStack:
    return stacks([KV_WORKER, R2_WORKER], data)


# ---- damaged SQLite files ----


@pytest.mark.parametrize(
    ("config", "relative", "what"),
    [
        (KV_WORKER, KV_DIR / "index.sqlite", "kv index"),
        (R2_WORKER, R2_DIR / "index.sqlite", "r2 index"),
        (D1_WORKER, D1_FILE, "d1 database"),
    ],
)
def test_a_file_that_is_not_a_database_stops_serve_with_one_line_naming_it(
    tmp_data, config, relative, what
):
    damaged = tmp_data / relative
    damaged.parent.mkdir(parents=True)
    garbage = b"not an SQLite database, say a file restored from the wrong backup\n" * 100
    damaged.write_bytes(garbage)
    expect_refusal(config, tmp_data, f"{what} {damaged}", "file is not a database")
    assert damaged.read_bytes() == garbage


def test_a_malformed_index_stops_serve_with_one_line_naming_it(tmp_data, stacks):
    stack = stacks([KV_WORKER], tmp_data)
    kv(stack, *(kv_put(f"k{i}", 3_000) for i in range(100)))
    assert stack.stop() == 0
    index = tmp_data / KV_DIR / "index.sqlite"
    damaged = bytearray(index.read_bytes())
    damaged[4096:8192] = b"\xff" * 4096  # the second page
    index.write_bytes(damaged)
    expect_refusal(KV_WORKER, tmp_data, f"kv index {index}", "database disk image is malformed")
    assert index.read_bytes() == damaged


def expect_refusal(config: Path, data: Path, file: str, reason: str) -> None:
    """serve exits 1 (a data-dir failure, said by the shim itself); its last line and its
    fatal event give the shim's reason."""
    result = run_serve("-c", str(config), "--data-dir", str(data), "--port", "0")
    message = (
        f"{file} is corrupt ({reason}): move it aside to start empty, or restore it from a backup"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"groundflare: shim: {message}"
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["event"], e["component"], e["class"], e["reason"]) for e in events] == [
        ("fatal", "shim", "data-dir", message)
    ]


# ---- links, strays and a lost index at start ----


def test_a_restart_over_planted_links_and_strays_follows_nothing_and_loses_nothing(
    tmp_data, tmp_path, stacks
):
    stack = both_workers(stacks, tmp_data)
    assert kv(stack, kv_put("big", BIG)) == [{"ok": None}]
    assert "ok" in r2(stack, r2_put("big", BIG))[0]
    assert stack.stop() == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / ("e" * 32)
    precious.write_bytes(b"a file outside the data dir")
    for resource in (KV_DIR, R2_DIR):
        blobs = tmp_data / resource / "blobs"
        shard = next(p.name for p in blobs.iterdir() if p.name != "tmp")
        (blobs / ("cd" if shard == "ab" else "ab")).symlink_to(outside)
        (blobs / "tmp" / ("e" * 32)).symlink_to(precious)
        (blobs / shard / "a-stray-folder").mkdir()

    again = both_workers(stacks, tmp_data)
    assert kv(again, kv_get("big")) == [kv_read_back(BIG)]
    assert r2(again, r2_get("big"))[0]["ok"]["body"]["md5"] == r2_md5(BIG)
    assert precious.read_bytes() == b"a file outside the data dir"
    for resource in (KV_DIR, R2_DIR):
        (folder,) = (tmp_data / resource / "quarantine").iterdir()
        assert (folder / "tmp" / ("e" * 32)).is_symlink()
    assert again.stop() == 0
    moved = "moved 3 entries no index row names, 2 of them symbolic links (not followed)"
    assert again.stderr().count(moved) == 2  # in the bucket and in the namespace


def test_a_lost_index_starts_empty_says_where_the_blobs_went_and_they_come_back(
    tmp_data, tmp_path, stacks
):
    stack = both_workers(stacks, tmp_data)
    kv(stack, kv_put("big", BIG))
    r2(stack, r2_put("big", BIG))
    assert stack.stop() == 0
    backup = tmp_path / "backup"
    for resource in (KV_DIR, R2_DIR):
        (backup / resource).mkdir(parents=True)
        for index in (tmp_data / resource).glob("index.sqlite*"):
            index.rename(backup / resource / index.name)

    empty = both_workers(stacks, tmp_data)
    assert kv(empty, kv_get("big")) == [{"ok": None}]
    assert r2(empty, r2_get("big")) == [{"ok": None}]
    assert empty.stop() == 0
    log = empty.stderr()
    for resource, label in ((KV_DIR, "kv"), (R2_DIR, "r2")):
        (folder,) = (tmp_data / resource / "quarantine").iterdir()
        assert f"{label} {resource.name}: the index was missing or empty" in log
        assert f"its 1 blob files were moved to {folder}" in log
        for index in (tmp_data / resource).glob("index.sqlite*"):
            index.unlink()
        for index in (backup / resource).iterdir():
            index.rename(tmp_data / resource / index.name)
        shutil.copytree(folder, tmp_data / resource / "blobs", dirs_exist_ok=True)

    restored = both_workers(stacks, tmp_data)
    assert kv(restored, kv_get("big")) == [kv_read_back(BIG)]
    assert r2(restored, r2_get("big"))[0]["ok"]["body"]["md5"] == r2_md5(BIG)


# ---- a full disk ----


@pytest.fixture
def small_disks(tmp_data: Path) -> Iterator[list[Path]]:
    """An 8 MiB tmpfs on each of the data dir's kv/ and r2/ folders."""
    with ExitStack() as mounts:
        yield [mounts.enter_context(small_disk(tmp_data / name)) for name in ("kv", "r2")]


def test_a_full_disk_is_an_error_the_worker_reads_and_the_next_write_after_it_succeeds(
    small_disks, tmp_data, stacks
):
    stack = both_workers(stacks, tmp_data)
    stored = {"small": 100, "big": BIG}
    for key, size in stored.items():
        assert kv(stack, kv_put(key, size)) == [{"ok": None}]
        assert "ok" in r2(stack, r2_put(key, size))[0]

    fillers = [fill(mount) for mount in small_disks]
    assert (
        kv(stack, kv_put("refused-small", 100), kv_put("refused-big", BIG))
        == [{"error": {"name": "Error", "message": f"KV PUT {KV_FULL}"}}] * 2
    )
    assert kv(stack, {"op": "delete", "key": "small"}) == [
        {"error": {"name": "Error", "message": f"KV DELETE {KV_FULL}"}}
    ]
    refused = r2(
        stack,
        r2_put("refused-small", 100),
        r2_put("refused-big", BIG),
        {"op": "createMultipartUpload", "key": "refused-upload"},
    )
    assert [step["error"]["message"] for step in refused] == [
        f"put: {R2_INTERNAL}",
        f"put: {R2_INTERNAL}",
        f"createMultipartUpload: {R2_INTERNAL}",
    ]
    assert kv(stack, kv_get("big")) == [kv_read_back(BIG)]  # reads go on

    for filler in fillers:
        filler.unlink()
    for key, size in {"after-small": 100, "after-big": BIG}.items():
        assert kv(stack, kv_put(key, size)) == [{"ok": None}]
        assert "ok" in r2(stack, r2_put(key, size))[0]
        stored[key] = size
    assert kv(stack, kv_get("refused-small"), kv_get("refused-big")) == [{"ok": None}] * 2
    assert r2(stack, r2_get("refused-small"), r2_get("refused-big")) == [{"ok": None}] * 2
    for key, size in stored.items():
        assert kv(stack, kv_get(key)) == [kv_read_back(size)]
        assert r2(stack, r2_get(key))[0]["ok"]["body"]["md5"] == r2_md5(size)

    for resource, kind in ((KV_DIR, "kv"), (R2_DIR, "r2")):
        index = tmp_data / resource / "index.sqlite"
        assert files_on_disk(index) == referenced_files(kind, index)
        assert not list((index.parent / "blobs" / "tmp").iterdir())
    assert stack.stop() == 0
    assert [event["event"] for event in stack.events()] == ["stopped"]
    assert "Traceback" not in stack.stderr()
    assert "refused: [Errno 28] No space left on device" in stack.stderr()


def test_a_stack_started_on_a_full_disk_says_so_in_one_line(tmp_data, stacks):
    with small_disk(tmp_data / "kv"):
        stack = stacks([KV_WORKER], tmp_data)
        assert kv(stack, kv_put("kept", BIG)) == [{"ok": None}]
        assert stack.stop() == 0
        filler = fill(tmp_data / "kv")
        index = tmp_data / KV_DIR / "index.sqlite"
        result = run_serve("-c", str(KV_WORKER), "--data-dir", str(tmp_data), "--port", "0")
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            f"groundflare: shim: kv index {index} cannot be opened: no space left on its "
            "disk; free some space, then start again"
        )
        filler.unlink()
        again = stacks([KV_WORKER], tmp_data)
        assert kv(again, kv_get("kept")) == [kv_read_back(BIG)]
        assert again.stop() == 0


def test_a_d1_write_on_a_full_disk_is_refused_whole_and_the_next_one_succeeds(tmp_data, stacks):
    with small_disk(tmp_data / "d1"):
        stack = stacks([D1_WORKER], tmp_data)
        create = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB)"
        assert "ok" in run_steps(stack, {"op": "run", "sql": create})[0]
        insert = "INSERT INTO notes (body) VALUES (zeroblob(?))"
        assert "ok" in run_steps(stack, {"op": "run", "sql": insert, "params": [BIG]})[0]
        filler = fill(tmp_data / "d1")
        refused = run_steps(
            stack,
            {"op": "run", "sql": insert, "params": [BIG]},
            {"op": "batch", "statements": [{"sql": insert, "params": [BIG]}] * 3},
        )
        assert refused == [{"error": {"name": "Error", "message": D1_FULL}}] * 2
        filler.unlink()
        assert "ok" in run_steps(stack, {"op": "run", "sql": insert, "params": [BIG]})[0]
        count = run_steps(stack, {"op": "first", "sql": "SELECT count(*) AS n FROM notes"})
        assert count == [{"ok": {"n": 2}}]  # the refused writes left nothing
        check = run_steps(stack, {"op": "first", "sql": "PRAGMA quick_check"})
        assert check == [{"ok": {"quick_check": "ok"}}]
        assert stack.stop() == 0
        assert "Traceback" not in stack.stderr()
