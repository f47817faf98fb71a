"""AWS Signature Version 4, as R2's S3 API checks it: in the Authorization header or in a
presigned URL's query string, with the payload hash the client declares (a hex SHA-256,
UNSIGNED-PAYLOAD, or one of the aws-chunked streaming forms, whose chunks are checked
as they arrive: shim/r2/s3/chunked.py).

Any region is accepted in the credential scope (R2 uses `auto`); the service must be `s3`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote_to_bytes

from groundflare.shim.messages import Request
from groundflare.shim.r2.s3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# How far a request's own date may be from the shim's clock (S3: 15 minutes).
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGNED_EXPIRY = 7 * 24 * 3600
_CREDENTIAL = re.compile(
    r"Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<headers>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class Signed:
    """A request whose signature holds: what its payload must be checked against."""

    amz_date: str
    scope: str
    signing_key: bytes
    signature: str
    # The x-amz-content-sha256 value: a hex digest, UNSIGNED-PAYLOAD or a streaming form.
    payload: str

    def chunk_signature(self, previous: str, chunk_hash: str) -> str:
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.amz_date,
                self.scope,
                previous,
                EMPTY_SHA256,
                chunk_hash,
            ]
        )
        return _hmac(self.signing_key, text).hex()

    def trailer_signature(self, previous: str, trailer: bytes) -> str:
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                self.amz_date,
                self.scope,
                previous,
                hashlib.sha256(trailer).hexdigest(),
            ]
        )
        return _hmac(self.signing_key, text).hex()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _uri_encode(text: str, safe: str) -> str:
    return quote(text, safe=safe)


def canonical_uri(raw_path: str) -> str:
    """The path as S3 signs it: each byte outside A-Za-z0-9-._~ and `/` percent-encoded
    once, whichever escapes the client chose (the raw target is decoded first)."""
    return quote(unquote_to_bytes(raw_path.encode("latin-1")), safe="/~")


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((_uri_encode(k, "-_.~"), _uri_encode(v, "-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _header_value(request: Request, name: str) -> str:
    value = request.headers.get(name)
    if value is None:
        raise S3Error(403, "SignatureDoesNotMatch", f"Signed header {name} is missing")
    return _SPACES.sub(" ", value.strip())


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise S3Error(400, "AuthorizationHeaderMalformed", f"Malformed credential: {credential}")
    access_key, date, region, service, _ = parts
    if service != "s3":
        raise S3Error(400, "AuthorizationHeaderMalformed", f"The service {service!r} is not s3")
    return access_key, date, region, service


def _check_date(amz_date: str, now: datetime) -> datetime:
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise S3Error(403, "AccessDenied", f"X-Amz-Date {amz_date!r} is not valid") from exc
    return when


def verify(request: Request, credentials: Credentials, now: datetime) -> Signed | None:
    """The request's signature checked; None when it carries none (anonymous)."""
    query = parse_qsl(request.query_string, keep_blank_values=True)
    header = request.headers.get("authorization")
    if header is not None:
        return _verify_header(request, header, query, credentials, now)
    if any(name == "X-Amz-Signature" for name, _ in query):
        return _verify_presigned(request, query, credentials, now)
    return None


def _verify_header(
    request: Request,
    header: str,
    query: list[tuple[str, str]],
    credentials: Credentials,
    now: datetime,
) -> Signed:
    algorithm, _, rest = header.partition(" ")
    found = _CREDENTIAL.search(rest)
    if algorithm != ALGORITHM or found is None:
        raise S3Error(
            400, "InvalidArgument", "Authorization must be AWS4-HMAC-SHA256 (Signature Version 4)"
        )
    access_key, date, region, service = _parse_credential(found["credential"])
    amz_date = request.headers.get("x-amz-date") or ""
    when = _check_date(amz_date, now)
    if abs((now - when).total_seconds()) > MAX_SKEW_SECONDS:
        raise S3Error(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    payload = request.headers.get("x-amz-content-sha256")
    if payload is None:
        raise S3Error(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    return _check(
        request,
        credentials,
        access_key,
        date,
        region,
        service,
        amz_date,
        found["headers"],
        found["signature"],
        query,
        payload,
    )


def _verify_presigned(
    request: Request, query: list[tuple[str, str]], credentials: Credentials, now: datetime
) -> Signed:
    params = dict(query)
    try:
        algorithm = params["X-Amz-Algorithm"]
        credential = params["X-Amz-Credential"]
        amz_date = params["X-Amz-Date"]
        expires = int(params["X-Amz-Expires"])
        headers = params["X-Amz-SignedHeaders"]
        signature = params["X-Amz-Signature"]
    except (KeyError, ValueError) as exc:
        raise S3Error(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters.",
        ) from exc
    if algorithm != ALGORITHM:
        raise S3Error(
            400, "AuthorizationQueryParametersError", "X-Amz-Algorithm must be AWS4-HMAC-SHA256"
        )
    if not 0 < expires <= MAX_PRESIGNED_EXPIRY:
        raise S3Error(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be between 1 and 604800 seconds",
        )
    access_key, date, region, service = _parse_credential(credential)
    when = _check_date(amz_date, now)
    if (now - when).total_seconds() > expires:
        raise S3Error(403, "AccessDenied", "Request has expired")
    unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    payload = request.headers.get("x-amz-content-sha256", UNSIGNED)
    return _check(
        request,
        credentials,
        access_key,
        date,
        region,
        service,
        amz_date,
        headers,
        signature,
        unsigned,
        payload,
        presigned=True,
    )


def _check(
    request: Request,
    credentials: Credentials,
    access_key: str,
    date: str,
    region: str,
    service: str,
    amz_date: str,
    signed_headers: str,
    signature: str,
    query: list[tuple[str, str]],
    payload: str,
    presigned: bool = False,
) -> Signed:
    if not hmac.compare_digest(access_key.encode(), credentials.access_key_id.encode()):
        raise S3Error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    if not amz_date.startswith(date):
        raise S3Error(403, "SignatureDoesNotMatch", "X-Amz-Date does not match the credential date")
    names = signed_headers.split(";")
    if "host" not in names:
        raise S3Error(403, "SignatureDoesNotMatch", "The host header must be signed")
    canonical_headers = "".join(f"{name}:{_header_value(request, name)}\n" for name in names)
    canonical = "\n".join(
        [
            request.method,
            canonical_uri(request.path),
            canonical_query(query),
            canonical_headers,
            signed_headers,
            UNSIGNED if presigned and "x-amz-content-sha256" not in request.headers else payload,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = signing_key(credentials.secret_access_key, date, region, service)
    expected = _hmac(key, to_sign).hex()
    if not hmac.compare_digest(expected, signature):
        raise S3Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your secret access key and signing method.",
        )
    return Signed(
        amz_date=amz_date, scope=scope, signing_key=key, signature=signature, payload=payload
    )
