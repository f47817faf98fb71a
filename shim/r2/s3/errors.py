"""S3's errors: an HTTP status, a code and a message, answered as S3's XML document."""

from __future__ import annotations

from xml.sax.saxutils import escape

from groundflare.shim.messages import Response
from groundflare.shim.r2.errors import R2Error

XML_TYPE = "application/xml"


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self, resource: str = "") -> Response:
        if self.status == 304:
            return Response(status=304)
        fields = {"Code": self.code, "Message": self.message, **self.extra}
        if resource:
            fields["Resource"] = resource
        body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
        xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{body}</Error>'
        return Response(
            status=self.status, body=xml.encode("utf-8"), headers={"Content-Type": XML_TYPE}
        )


# The binding's failures (v4 code) as S3 reports them (R2's S3 compatibility docs).
_FROM_R2 = {
    10001: (500, "InternalError"),
    10007: (404, "NoSuchKey"),
    10011: (400, "EntityTooSmall"),
    10012: (400, "MetadataTooLarge"),
    10020: (400, "InvalidObjectName"),
    10022: (400, "InvalidArgument"),
    10024: (404, "NoSuchUpload"),
    10025: (400, "InvalidPart"),
    10027: (400, "InvalidArgument"),
    10029: (400, "InvalidRequest"),
    10031: (412, "PreconditionFailed"),
    10037: (400, "BadDigest"),
    10039: (416, "InvalidRange"),
    10040: (400, "InvalidStorageClass"),
    10048: (500, "InternalError"),
    100100: (400, "EntityTooLarge"),
}


def from_r2(exc: R2Error) -> S3Error:
    status, code = _FROM_R2.get(exc.v4code, (exc.status, "InvalidRequest"))
    return S3Error(status, code, exc.message)


def no_such_bucket(name: str) -> S3Error:
    return S3Error(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=name)


def malformed_xml() -> S3Error:
    return S3Error(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our "
        "published schema.",
    )


def not_implemented(what: str) -> S3Error:
    return S3Error(501, "NotImplemented", f"{what} is not implemented by groundflare's S3 API")
