"""Multipart uploads through real workerd: production's ETags, part rules and error texts."""

from __future__ import annotations

import pytest

from tests.workers.r2.probe import (
    error,
    get,
    head,
    key,
    md5_hex,
    multipart_etag,
    ok,
    pattern,
    pattern_bytes,
    put,
    r2_stack,
)

__all__ = ["key", "r2_stack"]  # fixtures

MiB = 1024 * 1024
SMALL = 5 * MiB - 1


def create(stack, key, **options):
    step = {"op": "createMultipartUpload", "key": key}
    if options:
        step["options"] = options
    return ok(stack, step)["uploadId"]


def part_step(key, upload_id, number, value):
    return {
        "op": "uploadPart",
        "key": key,
        "uploadId": upload_id,
        "partNumber": number,
        "value": value,
    }


def upload(stack, key, upload_id, number, size, seed=0):
    return ok(stack, part_step(key, upload_id, number, pattern(size, seed)))


def complete_step(key, upload_id, parts):
    return {"op": "completeMultipartUpload", "key": key, "uploadId": upload_id, "parts": parts}


def abort_step(key, upload_id):
    return {"op": "abortMultipartUpload", "key": key, "uploadId": upload_id}


def blob_files(stack):
    blobs = stack.data_dir / "r2" / "probe" / "blobs"
    return {p.name for p in blobs.rglob("*") if p.is_file() and p.parent.name != "tmp"}


def test_a_multipart_upload_from_start_to_finish(r2_stack, key):
    upload_id = create(
        r2_stack,
        key,
        httpMetadata={"contentType": "video/mp4"},
        customMetadata={"camera": "front"},
        storageClass="InfrequentAccess",
    )
    assert isinstance(upload_id, str) and upload_id
    first = upload(r2_stack, key, upload_id, 1, 5 * MiB, seed=1)
    second = upload(r2_stack, key, upload_id, 2, 1234, seed=2)
    assert first == {"partNumber": 1, "etag": md5_hex(pattern_bytes(5 * MiB, 1))}
    assert second == {"partNumber": 2, "etag": md5_hex(pattern_bytes(1234, 2))}
    obj = ok(r2_stack, complete_step(key, upload_id, [first, second]))
    assert obj["key"] == key
    assert obj["size"] == 5 * MiB + 1234
    assert obj["etag"] == multipart_etag(first["etag"], second["etag"])
    assert obj["checksums"] == {}
    assert obj["httpMetadata"] == {"contentType": "video/mp4"}
    assert obj["customMetadata"] == {"camera": "front"}
    assert obj["storageClass"] == "InfrequentAccess"
    data = pattern_bytes(5 * MiB, 1) + pattern_bytes(1234, 2)
    fetched = get(r2_stack, key, read="digest")
    assert fetched["body"] == {"bytes": len(data), "chunks": fetched["body"]["chunks"]} | {
        "largest": fetched["body"]["largest"],
        "md5": md5_hex(data),
    }
    assert fetched["etag"] == obj["etag"]
    assert fetched["httpMetadata"] == {"contentType": "video/mp4"}


def test_ranges_across_part_boundaries(r2_stack, key):
    upload_id = create(r2_stack, key)
    parts = [upload(r2_stack, key, upload_id, n, 5 * MiB, seed=n) for n in (1, 2)]
    parts.append(upload(r2_stack, key, upload_id, 3, 10, seed=3))
    ok(r2_stack, complete_step(key, upload_id, parts))
    data = b"".join(pattern_bytes(size, n) for n, size in ((1, 5 * MiB), (2, 5 * MiB), (3, 10)))
    for offset, length in ((5 * MiB - 3, 6), (2 * MiB, 8 * MiB + 10), (10 * MiB + 4, 6)):
        obj = get(r2_stack, key, read="digest", range={"offset": offset, "length": length})
        assert obj["body"]["md5"] == md5_hex(data[offset : offset + length]), (offset, length)
        assert obj["range"] == {"offset": offset, "length": length}


def test_parts_are_joined_in_part_number_order(r2_stack, key):
    upload_id = create(r2_stack, key)
    second = upload(r2_stack, key, upload_id, 2, 5 * MiB, seed=2)
    first = upload(r2_stack, key, upload_id, 1, 5 * MiB, seed=1)
    obj = ok(r2_stack, complete_step(key, upload_id, [second, first]))
    assert obj["etag"] == multipart_etag(first["etag"], second["etag"])
    data = pattern_bytes(5 * MiB, 1) + pattern_bytes(5 * MiB, 2)
    assert get(r2_stack, key, read="digest")["body"]["md5"] == md5_hex(data)


def test_a_single_small_part_is_a_whole_object(r2_stack, key):
    upload_id = create(r2_stack, key)
    only = ok(r2_stack, part_step(key, upload_id, 1, "tiny"))
    obj = ok(r2_stack, complete_step(key, upload_id, [only]))
    assert obj["etag"] == multipart_etag(md5_hex("tiny"))
    assert get(r2_stack, key)["body"] == "tiny"


def test_reuploading_a_part_replaces_it(r2_stack, key):
    upload_id = create(r2_stack, key)
    ok(r2_stack, part_step(key, upload_id, 1, "old"))
    new = ok(r2_stack, part_step(key, upload_id, 1, "new"))
    assert new["etag"] == md5_hex("new")
    ok(r2_stack, complete_step(key, upload_id, [new]))
    assert get(r2_stack, key)["body"] == "new"


def test_parts_left_out_of_the_completion_are_discarded(r2_stack, key):
    before = blob_files(r2_stack)
    upload_id = create(r2_stack, key)
    kept = upload(r2_stack, key, upload_id, 1, 5 * MiB)
    upload(r2_stack, key, upload_id, 2, 5 * MiB)
    assert len(blob_files(r2_stack) - before) == 2
    ok(r2_stack, complete_step(key, upload_id, [kept]))
    assert len(blob_files(r2_stack) - before) == 1
    put(r2_stack, key, "replaced")  # the multipart value's files go with it
    assert blob_files(r2_stack) - before == set()


def test_abort_discards_the_parts(r2_stack, key):
    before = blob_files(r2_stack)
    upload_id = create(r2_stack, key)
    part = upload(r2_stack, key, upload_id, 1, 5 * MiB)
    assert ok(r2_stack, abort_step(key, upload_id)) is None
    assert blob_files(r2_stack) == before
    assert error(r2_stack, part_step(key, upload_id, 2, "x")) == (
        "uploadPart: The specified multipart upload does not exist. (10024)"
    )
    assert error(r2_stack, complete_step(key, upload_id, [part])) == (
        "completeMultipartUpload: The specified multipart upload does not exist. (10024)"
    )
    assert ok(r2_stack, abort_step(key, upload_id)) is None  # again: a no-op
    assert head(r2_stack, key) is None


def test_a_completed_upload_is_closed(r2_stack, key):
    upload_id = create(r2_stack, key)
    part = ok(r2_stack, part_step(key, upload_id, 1, "x"))
    ok(r2_stack, complete_step(key, upload_id, [part]))
    assert error(r2_stack, complete_step(key, upload_id, [part])) == (
        "completeMultipartUpload: The specified multipart upload does not exist. (10024)"
    )
    assert error(r2_stack, part_step(key, upload_id, 2, "y")) == (
        "uploadPart: The specified multipart upload does not exist. (10024)"
    )
    assert ok(r2_stack, abort_step(key, upload_id)) is None
    assert get(r2_stack, key)["body"] == "x"


def test_unknown_upload_ids(r2_stack, key):
    bogus = "not-an-upload"
    assert error(r2_stack, part_step(key, bogus, 1, "x")) == (
        "uploadPart: The specified multipart upload does not exist. (10024)"
    )
    internal = "We encountered an internal error. Please try again. (10001)"
    part = {"partNumber": 1, "etag": md5_hex("x")}
    assert error(r2_stack, complete_step(key, bogus, [part])) == (
        f"completeMultipartUpload: {internal}"
    )
    assert error(r2_stack, abort_step(key, bogus)) == f"abortMultipartUpload: {internal}"


def test_an_upload_belongs_to_its_key(r2_stack, key):
    upload_id = create(r2_stack, key)
    part = ok(r2_stack, part_step(key, upload_id, 1, "x"))
    other = key + "-other"
    assert error(r2_stack, part_step(other, upload_id, 2, "y")) == (
        "uploadPart: The specified multipart upload does not exist. (10024)"
    )
    assert error(r2_stack, complete_step(other, upload_id, [part])) == (
        "completeMultipartUpload: We encountered an internal error. Please try again. (10001)"
    )
    assert head(r2_stack, other) is None


@pytest.mark.parametrize(
    ("sizes", "order", "message"),
    [
        # A part before the last (in the order given) under 5 MiB.
        (
            (SMALL, 10),
            (1, 2),
            "Your proposed upload is smaller than the minimum allowed object size. (10011)",
        ),
        (
            (5 * MiB, 10),
            (2, 1),
            "Your proposed upload is smaller than the minimum allowed object size. (10011)",
        ),
        # Parts of unequal size, or a last part larger than the others.
        (
            (5 * MiB, 6 * MiB, 10),
            (1, 2, 3),
            "There was a problem with the multipart upload. (10048)",
        ),
        ((5 * MiB, 6 * MiB), (1, 2), "There was a problem with the multipart upload. (10048)"),
    ],
)
def test_part_size_rules(r2_stack, key, sizes, order, message):
    upload_id = create(r2_stack, key)
    parts = [upload(r2_stack, key, upload_id, n, size) for n, size in enumerate(sizes, 1)]
    listed = [parts[n - 1] for n in order]
    assert error(r2_stack, complete_step(key, upload_id, listed)) == (
        f"completeMultipartUpload: {message}"
    )
    assert head(r2_stack, key) is None
    # The upload stays open: the caller may fix the list and complete.
    ok(r2_stack, abort_step(key, upload_id))


def test_listed_parts_must_exist_with_their_etags(r2_stack, key):
    upload_id = create(r2_stack, key)
    part = ok(r2_stack, part_step(key, upload_id, 1, "x"))
    not_found = "completeMultipartUpload: One or more of the specified parts could not be found. "
    wrong_etag = {"partNumber": 1, "etag": md5_hex("y")}
    missing = {"partNumber": 2, "etag": md5_hex("x")}
    assert error(r2_stack, complete_step(key, upload_id, [wrong_etag])) == f"{not_found}(10025)"
    assert error(r2_stack, complete_step(key, upload_id, [part, missing])) == (
        f"{not_found}(10025)"
    )
    duplicate = [part, part]
    assert error(r2_stack, complete_step(key, upload_id, duplicate)) == (
        "completeMultipartUpload: We encountered an internal error. Please try again. (10001)"
    )
    assert ok(r2_stack, complete_step(key, upload_id, [part]))["size"] == 1


@pytest.mark.parametrize("number", [0, 10001])
def test_part_numbers_are_checked_by_the_client(r2_stack, key, number):
    upload_id = create(r2_stack, key)
    assert error(r2_stack, part_step(key, upload_id, number, "x")) == (
        f"Part number must be between 1 and 10000 (inclusive). Actual value was: {number}"
    )


def test_resume_needs_no_round_trip_and_checks_nothing(r2_stack, key):
    # resumeMultipartUpload is client-side only: a bogus id fails on first use.
    assert error(r2_stack, abort_step(key, "bogus")).startswith("abortMultipartUpload: ")
