"""R2's S3 API on the REST listener, driven by boto3 (and presigned URLs by plain urllib)
against a real `groundflare serve`: what S3 writes, the Workers' R2 binding reads."""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from groundflare.shim.r2.s3.sigv4 import STREAMING_SIGNED, Credentials, signing_key
from tests.stack import RunningStack, request, start_stack
from tests.v4 import PROBES, R2_PROBE_BUCKET, probe_ok, stack_env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(PROBES, tmp_path_factory.mktemp("s3") / "data")
    yield running
    assert running.stop() == 0


def client(
    env: dict[str, str], endpoint: str | None = None, secret: str | None = None
) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=endpoint or env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret or env["AWS_SECRET_ACCESS_KEY"],
        region_name="auto",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def env(stack: RunningStack) -> dict[str, str]:
    return stack_env(stack.data_dir)


@pytest.fixture(scope="module")
def s3(env: dict[str, str]) -> BaseClient:
    return client(env)


def error_code(failure: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = failure.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_buckets_are_listed_created_headed_and_deleted(s3):
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [R2_PROBE_BUCKET]
    s3.create_bucket(Bucket="made-by-s3")
    s3.head_bucket(Bucket="made-by-s3")
    with pytest.raises(ClientError) as failure:
        s3.create_bucket(Bucket="made-by-s3")
    assert error_code(failure) == (409, "BucketAlreadyOwnedByYou")
    s3.put_object(Bucket="made-by-s3", Key="x", Body=b"x")
    with pytest.raises(ClientError) as failure:
        s3.delete_bucket(Bucket="made-by-s3")
    assert error_code(failure) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket="made-by-s3", Key="x")
    s3.delete_bucket(Bucket="made-by-s3")
    with pytest.raises(ClientError) as failure:
        s3.head_bucket(Bucket="made-by-s3")
    assert error_code(failure)[0] == 404


def test_put_object_is_what_the_binding_reads_and_back(s3, stack):
    s3.put_object(
        Bucket=R2_PROBE_BUCKET,
        Key="s3/hello.txt",
        Body=b"hello from s3",
        ContentType="text/plain",
        Metadata={"origin": "boto3"},
    )
    seen = probe_ok(stack, "r2-probe", {"op": "get", "key": "s3/hello.txt"})
    assert seen["body"] == "hello from s3"
    assert seen["httpMetadata"]["contentType"] == "text/plain"
    assert seen["customMetadata"] == {"origin": "boto3"}
    probe_ok(stack, "r2-probe", {"op": "put", "key": "s3/from-worker", "value": "worker data"})
    got = s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/from-worker")
    assert got["Body"].read() == b"worker data"
    assert got["ETag"] == f'"{hashlib.md5(b"worker data").hexdigest()}"'


def test_get_object_ranges_and_conditionals(s3):
    s3.put_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", Body=b"0123456789")
    part = s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", Range="bytes=2-5")
    assert part["Body"].read() == b"2345"
    assert part["ContentRange"] == "bytes 2-5/10"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    suffix = s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", Range="bytes=-3")
    assert suffix["Body"].read() == b"789"
    etag = s3.head_object(Bucket=R2_PROBE_BUCKET, Key="s3/range")["ETag"]
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", IfNoneMatch=etag)
    assert error_code(failure)[0] == 304
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", IfMatch='"nope"')
    assert error_code(failure) == (412, "PreconditionFailed")
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", IfModifiedSince=later)
    assert error_code(failure)[0] == 304
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/range", Range="bytes=50-60")
    assert error_code(failure) == (416, "InvalidRange")


def test_copy_object_keeps_or_replaces_metadata(s3):
    s3.put_object(
        Bucket=R2_PROBE_BUCKET, Key="s3/src", Body=b"copied", Metadata={"a": "1"}, ContentType="x/y"
    )
    s3.copy_object(
        Bucket=R2_PROBE_BUCKET,
        Key="s3/dst",
        CopySource={"Bucket": R2_PROBE_BUCKET, "Key": "s3/src"},
    )
    head = s3.head_object(Bucket=R2_PROBE_BUCKET, Key="s3/dst")
    assert (head["Metadata"], head["ContentType"], head["ContentLength"]) == ({"a": "1"}, "x/y", 6)
    s3.copy_object(
        Bucket=R2_PROBE_BUCKET,
        Key="s3/dst2",
        CopySource=f"{R2_PROBE_BUCKET}/s3/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
    )
    assert s3.head_object(Bucket=R2_PROBE_BUCKET, Key="s3/dst2")["Metadata"] == {"b": "2"}


def test_delete_object_and_delete_objects(s3, stack):
    for key in ("s3/d1", "s3/d2", "s3/d3"):
        s3.put_object(Bucket=R2_PROBE_BUCKET, Key=key, Body=b"d")
    s3.delete_object(Bucket=R2_PROBE_BUCKET, Key="s3/d1")
    answer = s3.delete_objects(
        Bucket=R2_PROBE_BUCKET, Delete={"Objects": [{"Key": "s3/d2"}, {"Key": "s3/d3"}]}
    )
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["s3/d2", "s3/d3"]
    for key in ("s3/d1", "s3/d2", "s3/d3"):
        assert probe_ok(stack, "r2-probe", {"op": "head", "key": key}) is None


def test_list_objects_v1_and_v2_page_and_fold_prefixes(s3):
    for key in ("ls/a/1", "ls/a/2", "ls/b", "ls/c", "ls/d"):
        s3.put_object(Bucket=R2_PROBE_BUCKET, Key=key, Body=b"")
    folded = s3.list_objects_v2(Bucket=R2_PROBE_BUCKET, Prefix="ls/", Delimiter="/")
    assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["ls/a/"]
    assert [o["Key"] for o in folded["Contents"]] == ["ls/b", "ls/c", "ls/d"]
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=R2_PROBE_BUCKET, Prefix="ls/", PaginationConfig={"PageSize": 2}
    )
    assert [[o["Key"] for o in page["Contents"]] for page in pages] == [
        ["ls/a/1", "ls/a/2"],
        ["ls/b", "ls/c"],
        ["ls/d"],
    ]
    v1 = s3.get_paginator("list_objects").paginate(
        Bucket=R2_PROBE_BUCKET, Prefix="ls/", PaginationConfig={"PageSize": 3}
    )
    assert [o["Key"] for page in v1 for o in page["Contents"]] == [
        "ls/a/1",
        "ls/a/2",
        "ls/b",
        "ls/c",
        "ls/d",
    ]


def test_the_multipart_set(s3, stack):
    upload = s3.create_multipart_upload(Bucket=R2_PROBE_BUCKET, Key="s3/multi", ContentType="a/b")
    upload_id = upload["UploadId"]
    first = s3.upload_part(
        Bucket=R2_PROBE_BUCKET,
        Key="s3/multi",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"x" * (5 << 20),
    )
    second = s3.upload_part(
        Bucket=R2_PROBE_BUCKET, Key="s3/multi", UploadId=upload_id, PartNumber=2, Body=b"tail"
    )
    parts = s3.list_parts(Bucket=R2_PROBE_BUCKET, Key="s3/multi", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 << 20), (2, 4)]
    listed = s3.list_multipart_uploads(Bucket=R2_PROBE_BUCKET)["Uploads"]
    assert upload_id in [u["UploadId"] for u in listed]
    done = s3.complete_multipart_upload(
        Bucket=R2_PROBE_BUCKET,
        Key="s3/multi",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["ETag"]},
                {"PartNumber": 2, "ETag": second["ETag"]},
            ]
        },
    )
    assert done["ETag"].endswith('-2"')
    seen = probe_ok(stack, "r2-probe", {"op": "head", "key": "s3/multi"})
    assert seen["size"] == (5 << 20) + 4
    aborted = s3.create_multipart_upload(Bucket=R2_PROBE_BUCKET, Key="s3/aborted")
    s3.abort_multipart_upload(
        Bucket=R2_PROBE_BUCKET, Key="s3/aborted", UploadId=aborted["UploadId"]
    )
    with pytest.raises(ClientError) as failure:
        s3.upload_part(
            Bucket=R2_PROBE_BUCKET,
            Key="s3/aborted",
            UploadId=aborted["UploadId"],
            PartNumber=1,
            Body=b"late",
        )
    assert error_code(failure) == (404, "NoSuchUpload")


def test_presigned_urls_work_with_plain_urllib(s3, stack):
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": R2_PROBE_BUCKET, "Key": "s3/presigned"}, ExpiresIn=300
    )
    assert request(put_url, b"via a presigned PUT", method="PUT")[0] == 200
    assert probe_ok(stack, "r2-probe", {"op": "get", "key": "s3/presigned"})["body"] == (
        "via a presigned PUT"
    )
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": R2_PROBE_BUCKET, "Key": "s3/presigned"}, ExpiresIn=300
    )
    assert request(get_url) == (200, b"via a presigned PUT")
    status, body = request(get_url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert status == 403 and b"<Code>" in body


def test_errors_are_s3_xml(env, s3):
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/missing")
    assert error_code(failure) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket="no-such-bucket", Key="x")
    assert error_code(failure) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as failure:
        client(env, secret="wrong").list_buckets()
    assert error_code(failure) == (403, "SignatureDoesNotMatch")
    status, body = request(env["AWS_ENDPOINT_URL_S3"] + f"/{R2_PROBE_BUCKET}/s3/hello.txt")
    assert status == 403
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied')


def test_the_miniflare_path_prefix_serves_the_same_api(env):
    prefixed = client(env, endpoint=env["AWS_ENDPOINT_URL_S3"] + "/cdn-cgi/local/r2/s3")
    prefixed.put_object(Bucket=R2_PROBE_BUCKET, Key="s3/prefixed", Body=b"p")
    assert prefixed.get_object(Bucket=R2_PROBE_BUCKET, Key="s3/prefixed")["Body"].read() == b"p"


def test_an_aws_chunked_signed_upload_streams_in(env, stack):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD, as the AWS SDKs for Java and JavaScript send it."""
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    data = bytes(range(256)) * 1000
    url = env["AWS_ENDPOINT_URL_S3"] + f"/{R2_PROBE_BUCKET}/s3/chunked"
    body = chunked_upload(credentials, url, data, chunk=64 * 1024)
    assert request(url, body.body, method="PUT", headers=body.headers)[0] == 200
    seen = probe_ok(stack, "r2-probe", {"op": "get", "key": "s3/chunked", "read": "digest"})
    assert seen["body"]["md5"] == hashlib.md5(data).hexdigest()


class ChunkedUpload:
    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.headers = headers
        self.body = body


def chunked_upload(credentials: Credentials, url: str, data: bytes, chunk: int) -> ChunkedUpload:
    """A signed aws-chunked PUT, built as AWS's streaming-upload documentation describes."""
    import hmac
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    length = sum(len(f"{len(p):x};chunk-signature=") + 64 + 2 + len(p) + 2 for p in pieces)
    headers = {
        "host": parts.netloc,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": STREAMING_SIGNED,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "content-length": str(length),
    }
    names = sorted(headers)
    canonical = "\n".join(
        [
            "PUT",
            parts.path,
            "",
            "".join(f"{n}:{headers[n]}\n" for n in names),
            ";".join(names),
            STREAMING_SIGNED,
        ]
    )
    scope = f"{day}/auto/s3/aws4_request"
    key = signing_key(credentials.secret_access_key, day, "auto", "s3")

    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    seed = sign(
        f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    empty = hashlib.sha256(b"").hexdigest()
    body, previous = b"", seed
    for piece in pieces:
        previous = sign(
            f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n"
            f"{hashlib.sha256(piece).hexdigest()}"
        )
        body += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    assert len(body) == length
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key_id}/{scope},"
        f"SignedHeaders={';'.join(names)},Signature={seed}"
    )
    sent = {k: v for k, v in headers.items() if k not in ("host", "content-length")}
    return ChunkedUpload({**sent, "Authorization": authorization}, body)


def test_a_wrong_signature_on_a_presigned_url_never_reaches_the_bucket(s3, stack):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": R2_PROBE_BUCKET, "Key": "s3/forged"}, ExpiresIn=300
    )
    forged = url.replace("s3/forged", "s3/forged-elsewhere")
    status, _ = request(forged, b"nope", method="PUT")
    assert status == 403
    assert probe_ok(stack, "r2-probe", {"op": "head", "key": "s3/forged-elsewhere"}) is None
    try:
        urllib.request.urlopen(url)
    except urllib.error.HTTPError as err:
        assert err.code == 403  # a PUT URL does not sign a GET


def test_a_content_md5_is_checked_and_a_malformed_one_refused(s3):
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    with pytest.raises(ClientError) as failure:
        s3.put_object(Bucket=R2_PROBE_BUCKET, Key="s3/md5", Body=b"data", ContentMD5=wrong)
    assert error_code(failure) == (400, "BadDigest")
    with pytest.raises(ClientError) as failure:
        s3.put_object(Bucket=R2_PROBE_BUCKET, Key="s3/md5", Body=b"data", ContentMD5="not base64!")
    assert error_code(failure) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as failure:
        s3.head_object(Bucket=R2_PROBE_BUCKET, Key="s3/md5")
    assert error_code(failure)[0] == 404
