"""Snapshots of a running stack's data: taken and restored without restarting anything, for
per-test isolation (docs/testing.md). D1, KV, R2 and Durable Objects come back exactly as
they were, and no Durable Object keeps the memory of what happened after the snapshot."""

from __future__ import annotations

import json

import pytest

from tests.stack import WORKERS, request, shim_post

PROBE = WORKERS / "snapshot" / "wrangler.toml"
BLOB = 100_000  # over 64 KiB: a blob file, not a value inline in the index


@pytest.fixture
def stack(tmp_data, stacks):
    return stacks([PROBE], tmp_data)


def state(stack) -> dict[str, object]:
    status, body = request(stack.url + "/state")
    assert status == 200, body
    return json.loads(body)


def put(stack, name: str, **query: object) -> None:
    query_string = "&".join(f"{k}={v}" for k, v in query.items())
    assert request(stack.url + f"/{name}?{query_string}", b"", method="PUT")[0] == 200


def bump(stack) -> dict[str, int]:
    return json.loads(request(stack.url + "/bump", b"", method="POST")[1])


def blob_files(stack, kind: str) -> set[str]:
    root = stack.data_dir / kind / "snapshot-probe" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp"}


def test_a_restore_brings_back_every_kind_of_state_as_it_was(stack):
    put(stack, "seed", value="first", size=BLOB)
    assert bump(stack) == {"inMemory": 1, "stored": 1}
    seeded = state(stack)
    seeded_blobs = (blob_files(stack, "kv"), blob_files(stack, "r2"))
    assert shim_post(stack, "/_groundflare/snapshots/seed")[0] == 200

    put(stack, "seed", value="changed", size=BLOB)
    put(stack, "later", size=BLOB)
    assert bump(stack) == {"inMemory": 1, "stored": 2}  # the snapshot aborted the object
    assert state(stack) != seeded
    status, answer = shim_post(stack, "/_groundflare/snapshots/seed/restore")
    assert status == 200 and answer["ms"] >= 0
    assert state(stack) == seeded
    assert (blob_files(stack, "kv"), blob_files(stack, "r2")) == seeded_blobs
    assert bump(stack) == {"inMemory": 1, "stored": 2}


def test_a_durable_objects_memory_does_not_outlive_a_restore(stack):
    assert shim_post(stack, "/_groundflare/snapshots/empty")[0] == 200
    for expected in (1, 2, 3):
        assert bump(stack) == {"inMemory": expected, "stored": expected}
    assert shim_post(stack, "/_groundflare/snapshots/empty/restore")[0] == 200
    assert bump(stack) == {"inMemory": 1, "stored": 1}


def test_an_object_not_running_at_a_restore_loses_what_it_stored_after_the_snapshot(stack):
    assert shim_post(stack, "/_groundflare/snapshots/empty")[0] == 200
    assert bump(stack) == {"inMemory": 1, "stored": 1}
    # Taking a snapshot aborts every instance: the object no longer runs at the restore.
    assert shim_post(stack, "/_groundflare/snapshots/later")[0] == 200
    assert shim_post(stack, "/_groundflare/snapshots/empty/restore")[0] == 200
    assert bump(stack) == {"inMemory": 1, "stored": 1}


def test_the_same_snapshot_restores_again_and_again(stack):
    put(stack, "seed", size=BLOB)
    assert shim_post(stack, "/_groundflare/snapshots/seed")[0] == 200
    seeded = state(stack)
    for index in range(3):
        put(stack, f"n{index}", size=BLOB)
        request(stack.url + "/seed", method="DELETE")
        assert shim_post(stack, "/_groundflare/snapshots/seed/restore")[0] == 200
        assert state(stack) == seeded


def test_an_unknown_or_unnameable_snapshot_is_refused(stack):
    assert shim_post(stack, "/_groundflare/snapshots/nope/restore") == (
        409,
        {"success": False, "error": "no snapshot named 'nope' (take it first)"},
    )
    assert shim_post(stack, "/_groundflare/snapshots/a.b")[0] == 409


QUEUE_PRODUCER = WORKERS / "queues" / "producer.toml"  # its queues have no consumer here
CACHE_PROBE = WORKERS / "cache" / "wrangler.toml"


def backlog(stack) -> int:
    status, body = request(stack.ready["workers"]["queue-producer"] + "/metrics")
    assert status == 200, body
    return json.loads(body)["ok"]["backlogCount"]


def cache(stack, *steps: dict[str, object]) -> list[object]:
    status, body = request(stack.ready["workers"]["cache-probe"], list(steps), method="POST")
    assert status == 200, body
    return json.loads(body)


def cached(stack, url: str) -> bool:
    (found,) = cache(stack, {"op": "match", "url": url})
    assert isinstance(found, dict) and "ok" in found, found
    return found["ok"] is not None


def test_a_restore_brings_back_queue_backlogs_and_the_cache_as_they_were(tmp_data, stacks):
    stack = stacks([QUEUE_PRODUCER, CACHE_PROBE], tmp_data)
    producer = stack.ready["workers"]["queue-producer"]
    assert request(producer + "/send", {"body": "kept"}, method="POST")[0] == 200
    kept, later = "https://example.com/kept", "https://example.com/later"
    headers = {"cache-control": "max-age=3600"}
    cache(stack, {"op": "put", "url": kept, "body": "kept", "headers": headers})
    assert (backlog(stack), cached(stack, kept)) == (1, True)
    assert shim_post(stack, "/_groundflare/snapshots/seed")[0] == 200

    for body in ("after-1", "after-2"):
        assert request(producer + "/send", {"body": body}, method="POST")[0] == 200
    cache(stack, {"op": "put", "url": later, "body": "later", "headers": headers})
    cache(stack, {"op": "delete", "url": kept})
    assert (backlog(stack), cached(stack, kept), cached(stack, later)) == (3, False, True)

    assert shim_post(stack, "/_groundflare/snapshots/seed/restore")[0] == 200
    assert (backlog(stack), cached(stack, kept), cached(stack, later)) == (1, True, False)
