"""The JSON workerd's R2 binding sends (capnp JsonCodec of r2-api.capnp), as pydantic models.

Field names are workerd's camelCase on the wire. 64-bit integers arrive as JSON
strings, which pydantic's lax integers accept. Unknown fields are ignored, as
capnp does, so a newer workerd's additions do not break older shims.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic.alias_generators import to_camel


class Message(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class Etag(Message):
    type: Literal["strong", "weak", "wildcard"]
    value: str = ""


class Conditional(Message):
    etag_matches: list[Etag] | None = None
    etag_does_not_match: list[Etag] | None = None
    uploaded_before: int | None = None
    uploaded_after: int | None = None
    seconds_granularity: bool = False


class Range(Message):
    offset: int | None = Field(default=None, ge=0)
    length: int | None = Field(default=None, ge=0)
    suffix: int | None = Field(default=None, ge=0)


class HttpFields(Message):
    content_type: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    cache_control: str | None = None
    cache_expiry: int | None = None


class Record(Message):
    k: str
    v: str


class Ssec(Message):
    key: str


class Head(Message):
    method: Literal["head"]
    object: str


class Get(Message):
    method: Literal["get"]
    object: str
    range: Range | None = None
    range_header: str | None = None
    only_if: Conditional | None = None
    ssec: Ssec | None = None


class NewObject(Message):
    """What put and createMultipartUpload share: the metadata an object is born with."""

    object: str
    custom_fields: list[Record] | None = None
    http_fields: HttpFields | None = None
    storage_class: str | None = None
    ssec: Ssec | None = None


def _hex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


class Put(NewObject):
    method: Literal["put"]
    only_if: Conditional | None = None
    md5: bytes | None = None
    sha1: bytes | None = None
    sha256: bytes | None = None
    sha384: bytes | None = None
    sha512: bytes | None = None

    @field_validator("md5", mode="before")
    @classmethod
    def _base64(cls, value: str | None) -> bytes | None:
        if value is None:
            return None
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("md5 is not base64") from exc

    @field_validator("sha1", "sha256", "sha384", "sha512", mode="before")
    @classmethod
    def _lower_hex(cls, value: str | None) -> bytes | None:
        return _hex(value)


class ListObjects(Message):
    method: Literal["list"]
    limit: int | None = None
    prefix: str = ""
    cursor: str = ""
    delimiter: str = ""
    start_after: str = ""
    include: list[int] | None = None


class Delete(Message):
    method: Literal["delete"]
    object: str | None = None
    objects: list[str] | None = None


class CreateMultipartUpload(NewObject):
    method: Literal["createMultipartUpload"]


class UploadPart(Message):
    method: Literal["uploadPart"]
    object: str
    upload_id: str
    part_number: int


class PublishedPart(Message):
    etag: str
    part: int


class CompleteMultipartUpload(Message):
    method: Literal["completeMultipartUpload"]
    object: str
    upload_id: str
    parts: list[PublishedPart]


class AbortMultipartUpload(Message):
    method: Literal["abortMultipartUpload"]
    object: str
    upload_id: str


ReadRequest = TypeAdapter(Annotated[Head | Get | ListObjects, Field(discriminator="method")])
WriteRequest = TypeAdapter(
    Annotated[
        Put
        | Delete
        | CreateMultipartUpload
        | UploadPart
        | CompleteMultipartUpload
        | AbortMultipartUpload,
        Field(discriminator="method"),
    ]
)
