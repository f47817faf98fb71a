"""SigV4 as R2's S3 API checks it, against AWS's published streaming-upload example
(STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the seed signature in the header, then a chained
signature per chunk), so the verifier is right independently of any client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from groundflare.shim.messages import Body, Request
from groundflare.shim.r2.s3 import chunked
from groundflare.shim.r2.s3.errors import S3Error
from groundflare.shim.r2.s3.sigv4 import Credentials, verify

EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)
HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "authorization": "AWS4-HMAC-SHA256 "
    "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class,"
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
}
CHUNKS = [
    (b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"),
    b"a" * 65536 + b"\r\n",
    b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
    b"a" * 1024 + b"\r\n",
    b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
]


class Unpaused:
    def hold_reading(self, reason: int, hold: bool) -> None:
        pass


def request(headers: dict[str, str], chunks: list[bytes]) -> Request:
    body = Body(Unpaused())
    for chunk in chunks:
        body.feed(chunk)
    body.finish()
    return Request("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


async def decoded(req: Request, credentials: Credentials = EXAMPLE) -> bytes:
    signed = verify(req, credentials, WHEN)
    assert signed is not None
    return b"".join(
        [piece async for piece in chunked.decode(req.body.chunks(), signed, signed.payload, 66560)]
    )


def test_awss_streaming_example_verifies_and_decodes():
    assert asyncio.run(decoded(request(HEADERS, CHUNKS))) == b"a" * 66560


def test_a_changed_chunk_breaks_the_chain():
    tampered = [*CHUNKS[:3], b"b" * 1024 + b"\r\n", CHUNKS[4]]
    with pytest.raises(S3Error) as failure:
        asyncio.run(decoded(request(HEADERS, tampered)))
    assert failure.value.code == "SignatureDoesNotMatch"


def test_another_secret_fails_the_seed_signature():
    other = Credentials(EXAMPLE.access_key_id, "not-the-secret")
    with pytest.raises(S3Error) as failure:
        asyncio.run(decoded(request(HEADERS, CHUNKS), other))
    assert (failure.value.status, failure.value.code) == (403, "SignatureDoesNotMatch")


def test_an_unknown_access_key_is_refused_as_s3_does():
    other = Credentials("SOMEONE-ELSE", EXAMPLE.secret_access_key)
    with pytest.raises(S3Error) as failure:
        asyncio.run(decoded(request(HEADERS, CHUNKS), other))
    assert failure.value.code == "InvalidAccessKeyId"


def test_a_body_shorter_than_declared_is_incomplete():
    with pytest.raises(S3Error) as failure:
        asyncio.run(decoded(request(HEADERS, CHUNKS[:2])))
    assert failure.value.code == "IncompleteBody"


def test_a_request_from_far_in_the_past_is_too_skewed():
    req = request(HEADERS, CHUNKS)
    with pytest.raises(S3Error) as failure:
        verify(req, EXAMPLE, datetime(2013, 5, 25, tzinfo=UTC))
    assert failure.value.code == "RequestTimeTooSkewed"
