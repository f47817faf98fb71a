"""Bad input and limits: production's error texts as the Worker catches them, nothing written,
and no traceback in the shim's log."""

from __future__ import annotations

import hashlib

import pytest

from tests.workers.r2.probe import error, head, key, md5_hex, ok, pattern, put, r2_stack

__all__ = ["key", "r2_stack"]  # fixtures

INVALID_NAME = "The specified object name is not valid. (10020)"
METADATA_TOO_LARGE = "put: Your metadata headers exceed the maximum allowed metadata size. (10012)"


@pytest.fixture(scope="module", autouse=True)
def no_tracebacks(r2_stack):
    yield
    log = (r2_stack.data_dir / "logs" / "shim.log").read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log


def put_step(key, value="x", **options):
    return {"op": "put", "key": key, "value": value, "options": options}


@pytest.mark.parametrize(
    ("step", "action"),
    [
        (put_step("k" * 1025), "put"),
        ({"op": "get", "key": "k" * 1025}, "get"),
        ({"op": "head", "key": "k" * 1025}, "head"),
        ({"op": "delete", "keys": "k" * 1025}, "delete"),
        ({"op": "delete", "keys": ["ok", "k" * 1025]}, "delete"),
        ({"op": "createMultipartUpload", "key": "k" * 1025}, "createMultipartUpload"),
        (put_step("€" * 342), "put"),  # 1,026 bytes of UTF-8
    ],
)
def test_keys_over_1024_bytes_are_invalid(r2_stack, step, action):
    assert error(r2_stack, step) == f"{action}: {INVALID_NAME}"


def test_a_key_of_exactly_1024_bytes_is_fine(r2_stack):
    name = "€" * 341 + "k"  # 1,024 bytes
    assert put(r2_stack, name, "x")["key"] == name
    assert head(r2_stack, name)["size"] == 1


def test_nothing_is_written_by_a_refused_put(r2_stack, key):
    error(r2_stack, put_step(key, customMetadata={"pad": "x" * 3000}))
    assert head(r2_stack, key) is None


@pytest.mark.parametrize(
    ("custom", "fits"),
    [
        ({"k": "v" * 2047}, True),  # 2,048
        ({"k": "v" * 2048}, False),
        ({"a": "x" * 1000, "b": "y" * 1046}, True),  # names count too
        ({"a": "x" * 1000, "b": "y" * 1047}, False),
        ({"k": "é" * 2047}, True),  # Latin-1 counts one per character
        ({"k": "ā" * 1023}, True),  # anything else counts double: 1 + 2 * 1023
        ({"k": "ā" * 1024}, False),
        ({"k": "🚀" * 512}, False),  # two UTF-16 units each, doubled: 1 + 2048
    ],
)
def test_custom_metadata_is_limited_to_2048_bytes(r2_stack, key, custom, fits):
    step = put_step(key, customMetadata=custom)
    if fits:
        assert ok(r2_stack, step)["customMetadata"] == custom
    else:
        assert error(r2_stack, step) == METADATA_TOO_LARGE


def test_multipart_uploads_check_metadata_too(r2_stack, key):
    step = {
        "op": "createMultipartUpload",
        "key": key,
        "options": {"customMetadata": {"k": "v" * 2048}},
    }
    assert error(r2_stack, step) == (
        "createMultipartUpload: Your metadata headers exceed the maximum allowed metadata size. "
        "(10012)"
    )


@pytest.mark.parametrize(
    ("option", "name", "algorithm"),
    [
        ("md5", "MD5", hashlib.md5),
        ("sha1", "SHA-1", hashlib.sha1),
        ("sha256", "SHA-256", hashlib.sha256),
        ("sha384", "SHA-384", hashlib.sha384),
        ("sha512", "SHA-512", hashlib.sha512),
    ],
)
def test_a_wrong_checksum_is_bad_digest(r2_stack, key, option, name, algorithm):
    wrong = algorithm(b"something else").hexdigest()
    actual = algorithm(b"payload").hexdigest()
    assert error(r2_stack, put_step(key, "payload", **{option: wrong})) == (
        f"put: The {name} checksum you specified did not match what we received.\n"
        f"You provided a {name} checksum with value: {wrong}\n"
        f"Actual {name} was: {actual} (10037)"
    )
    assert head(r2_stack, key) is None


def test_a_wrong_checksum_on_a_large_value_writes_nothing(r2_stack, key):
    bucket = r2_stack.data_dir / "r2" / "probe" / "blobs"
    before = {p for p in bucket.rglob("*") if p.is_file()}
    step = put_step(key, pattern(3 * 1024 * 1024), md5=md5_hex("nope"))
    assert error(r2_stack, step).startswith("put: The MD5 checksum you specified did not match")
    assert head(r2_stack, key) is None
    assert {p for p in bucket.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"md5": "abc"}, "MD5 is 32 hex characters, not 3"),
        ({"sha256": "zz" * 32}, "Provided SHA-256 wasn't a valid hex string"),
        (
            {"md5": md5_hex("x"), "sha1": "0" * 40},
            "You cannot specify multiple hashing algorithms.",
        ),
    ],
)
def test_the_client_checks_checksum_shapes(r2_stack, key, options, message):
    assert error(r2_stack, put_step(key, **options)) == message


def test_an_unknown_storage_class_is_refused(r2_stack, key):
    assert error(r2_stack, put_step(key, storageClass="Glacier")) == (
        "put: The storage class you specified is not valid. (10040)"
    )
    assert head(r2_stack, key) is None


def test_delete_takes_at_most_1000_keys(r2_stack):
    keys = [f"d{i}" for i in range(1001)]
    assert error(r2_stack, {"op": "delete", "keys": keys}) == (
        "delete: The number of keys in the request must be between 1 and 1000 inclusive. (10027)"
    )
    assert ok(r2_stack, {"op": "delete", "keys": keys[:1000]}) is None


def test_streams_of_unknown_length_are_refused_by_the_client(r2_stack, key):
    step = {"op": "put", "key": key, "value": {"$stream": "abc"}}
    assert error(r2_stack, step) == (
        "Provided readable stream must have a known length (request/response body or readable "
        "half of FixedLengthStream)"
    )
