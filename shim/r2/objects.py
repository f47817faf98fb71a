"""An object's metadata: validation on the way in, the binding's JSON on the way out.

http and custom fields are stored as the JSON workerd reads back, so answering a
head, get or list splices stored bytes (orjson.Fragment) instead of re-encoding.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from groundflare.shim.blobs import Blob
from groundflare.shim.r2 import errors
from groundflare.shim.r2.messages import HttpFields, NewObject, Record

MAX_KEY_BYTES = 1024
MAX_CUSTOM_METADATA = 2048
# 5 GiB - 5 MiB: production's single-put limit.
MAX_PUT_BYTES = 5 * 1024**3 - 5 * 1024**2
STORAGE_CLASSES = frozenset({"Standard", "InfrequentAccess"})
DEFAULT_STORAGE_CLASS = "Standard"


@dataclass(frozen=True)
class ObjectMeta:
    """What an object is born with, from put or createMultipartUpload."""

    http: bytes | None
    custom: bytes | None
    storage_class: str
    ssec_key_md5: str | None


@dataclass(frozen=True)
class ObjectRecord:
    key: str
    version: str
    size: int
    etag: str
    uploaded: int
    meta: ObjectMeta
    checksums: bytes
    # The value: one blob, or (multipart) the parts of this completed upload.
    blob: Blob | None
    upload_id: str | None


def check_key(key: str) -> None:
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise errors.invalid_object_name() from exc
    if size > MAX_KEY_BYTES:
        raise errors.invalid_object_name()


def _serialised_length(text: str) -> int:
    """The R2 gateway's estimate: UTF-16 length, doubled if any unit is outside Latin-1."""
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    return units * 2 if any(ord(ch) >= 256 for ch in text) else units


def check_custom_metadata(fields: list[Record] | None) -> None:
    if fields is None:
        return
    total = sum(_serialised_length(f.k) + _serialised_length(f.v) for f in fields)
    if total > MAX_CUSTOM_METADATA:
        raise errors.metadata_too_large()


def object_meta(request: NewObject) -> ObjectMeta:
    """Validate and encode the metadata a new object or upload carries."""
    check_key(request.object)
    check_custom_metadata(request.custom_fields)
    storage_class = request.storage_class or DEFAULT_STORAGE_CLASS
    if storage_class not in STORAGE_CLASSES:
        raise errors.invalid_storage_class()
    return ObjectMeta(
        http=_http_json(request.http_fields),
        custom=_custom_json(request.custom_fields),
        storage_class=storage_class,
        ssec_key_md5=ssec_key_md5(request.ssec.key) if request.ssec else None,
    )


def ssec_key_md5(hex_key: str) -> str:
    """Base64 MD5 of the SSE-C key, which responses report; the key itself is never stored."""
    try:
        key = bytes.fromhex(hex_key)
    except ValueError as exc:
        raise errors.invalid_metadata() from exc
    return base64.b64encode(hashlib.md5(key).digest()).decode()


def _http_json(fields: HttpFields | None) -> bytes | None:
    if fields is None:
        return None
    return orjson.dumps(fields.model_dump(by_alias=True, exclude_none=True))


def _custom_json(fields: list[Record] | None) -> bytes | None:
    if fields is None:
        return None
    # A Worker's customMetadata is a JS object: a repeated name keeps its last value.
    unique = {f.k: f.v for f in fields}
    return orjson.dumps([{"k": k, "v": v} for k, v in unique.items()])


def metadata(
    record: ObjectRecord,
    span: tuple[int, int] | None = None,
    http: bool = True,
    custom: bool = True,
) -> dict[str, Any]:
    """The R2HeadResponse JSON object; `span` is the (offset, length) served."""
    out: dict[str, Any] = {
        "name": record.key,
        "version": record.version,
        "size": record.size,
        "etag": record.etag,
        "uploaded": record.uploaded,
        "checksums": orjson.Fragment(record.checksums),
        "storageClass": record.meta.storage_class,
    }
    if http and record.meta.http is not None:
        out["httpFields"] = orjson.Fragment(record.meta.http)
    if custom and record.meta.custom is not None:
        out["customFields"] = orjson.Fragment(record.meta.custom)
    if span is not None:
        out["range"] = {"offset": span[0], "length": span[1]}
    if record.meta.ssec_key_md5 is not None:
        out["ssec"] = {"algorithm": "AES256", "keyMd5": record.meta.ssec_key_md5}
    return out


def encode(document: dict[str, Any]) -> bytes:
    """Raw UTF-8 JSON: capnp's parser mishandles \\u escapes outside ASCII."""
    return orjson.dumps(document)
