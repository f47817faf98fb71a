"""Where a message's body ends, decided once and without doubt (RFC 9112 §6).

Request smuggling lives in the gap between two parsers' answers to that question.
llhttp already refuses the classic ambiguities (Content-Length with
Transfer-Encoding, duplicate lengths, obs-fold, bare LF); these rules close the
ones a relay adds itself: a Connection header that would strip the framing on
the way, transfer-codings the proxy would silently drop, a body behind an
upgrade. Anything else is refused (requests) or cut (responses), never guessed.
"""

from __future__ import annotations

import enum

from groundflare.contracts.proxy import SANDBOX_HEADER, SURFACE_HEADER
from groundflare.proxy.headers import Request, connection_tokens

# What a request's Connection header may not nominate as hop-by-hop: dropping them on the
# way would change the framing the sandbox sees, or what the proxy itself checked.
END_TO_END = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"host",
        b"cookie",
        SURFACE_HEADER.lower().encode(),
        SANDBOX_HEADER.lower().encode(),
    }
)
CHUNKED = [b"chunked"]


class Framing(enum.Enum):
    """How a response body ends."""

    NONE = "none"
    LENGTH = "content-length"
    CHUNKED = "chunked"
    EOF = "until close"


class Unframeable(Exception):
    """A response whose body the proxy cannot delimit for the frontend."""


def codings(transfer_encoding: bytes) -> list[bytes]:
    """The transfer-codings a Transfer-Encoding value lists, lower-cased, parameters kept."""
    return [coding.strip().lower() for coding in transfer_encoding.split(b",")]


def request_refusal(request: Request) -> tuple[int, str] | None:
    """Status and reason when the request's framing is not beyond doubt; None to relay it.

    Only `chunked` is understood: RFC 9112 §6.1 answers another coding with 501, and
    a relay that re-chunks would otherwise drop it (`gzip, chunked` reaching the
    sandbox as plain `chunked`).
    """
    nominated = connection_tokens(request.fields.get(b"connection")) & END_TO_END
    if nominated:
        names = ", ".join(sorted(name.decode() for name in nominated))
        return 400, f"Connection may not list end-to-end headers ({names})"
    transfer_encoding = request.fields.get(b"transfer-encoding")
    if transfer_encoding is not None:
        if not request.http11:
            return 400, "Transfer-Encoding in an HTTP/1.0 request"  # RFC 9112 §6.1
        if codings(transfer_encoding) != CHUNKED:
            return 501, "only the chunked transfer coding is supported"
    if request.upgrade and request.has_body:
        return 400, "an Upgrade request may not carry a body"
    return None


def response_framing(
    status: int, method: bytes, transfer_encoding: bytes | None, has_length: bool
) -> Framing:
    """How the sandbox's response body ends, as llhttp reads it (RFC 9112 §6.3)."""
    if status < 200 or status in (204, 304) or method == b"HEAD":
        return Framing.NONE
    if transfer_encoding is not None:
        if codings(transfer_encoding) != CHUNKED:
            raise Unframeable(f"unsupported Transfer-Encoding {transfer_encoding!r}")
        return Framing.CHUNKED
    return Framing.LENGTH if has_length else Framing.EOF
