"""Heads on the wire: which headers cross the proxy, and the bytes it writes.

Headers stay raw bytes in their original case and order; the proxy only drops
what belongs to one connection (RFC 9110 §7.6.1), swaps the frontend's
credentials for the sandbox's token, sets the body framing itself, and tells the
sandbox who asked only through headers it sets (X-Forwarded-For/-Proto).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from groundflare.contracts.proxy import SANDBOX_HEADER, SURFACE_HEADER

Header = tuple[bytes, bytes]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The sandbox never sees the frontend's credentials, nor headers the proxy sets itself
# (any X-Forwarded-* too: a client's own would pass for the proxy's word).
REQUEST_DROP = HOP_BY_HOP | {
    b"host",
    b"cookie",
    b"forwarded",
    SURFACE_HEADER.lower().encode(),
    SANDBOX_HEADER.lower().encode(),
}
FORWARDED_PREFIX = b"x-forwarded-"
# A response's Connection header cannot strip these: the frontend would lose the framing.
FRAMING = frozenset({b"content-length", b"transfer-encoding"})


@dataclass(slots=True)
class Request:
    """A parsed request head, plus its body while it waits for an upstream connection."""

    method: bytes
    target: bytes
    http11: bool
    headers: list[Header]
    # Lower-cased name -> value, repeats joined, for the few headers the proxy reads.
    fields: dict[bytes, bytes]
    keep_alive: bool
    upgrade: bool
    chunked: bool = False
    # A status and message to answer locally instead (a malformed request).
    error: tuple[int, str] | None = None
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False

    @property
    def path(self) -> bytes:
        return self.target.partition(b"?")[0]

    @property
    def query(self) -> bytes:
        return self.target.partition(b"?")[2]

    @property
    def has_body(self) -> bool:
        return self.chunked or self.fields.get(b"content-length", b"0").strip() != b"0"


def connection_tokens(listed: bytes | None) -> frozenset[bytes]:
    """Header names a Connection header value marks as hop-by-hop."""
    if not listed:
        return frozenset()
    return frozenset(token.strip().lower() for token in listed.split(b","))


def upstream_head(request: Request, host: bytes, credential: Header, client: bytes) -> bytes:
    """The request head as the sandbox receives it: `credential` is the header the sandbox
    checks, with its token (a frontend's own header of that name never passes); `client` is
    the frontend's address. (Framing checks come first: framing.request_refusal.)"""
    credential_name, token = credential
    drop = (
        REQUEST_DROP
        | {credential_name.lower()}
        | connection_tokens(request.fields.get(b"connection"))
    )
    parts = [request.method, b" ", request.target, b" HTTP/1.1\r\nHost: ", host, b"\r\n"]
    for name, value in request.headers:
        lower = name.lower()
        if lower in drop:
            if request.upgrade and lower == b"upgrade":
                parts += (name, b": ", value, b"\r\n")
        elif not lower.startswith(FORWARDED_PREFIX):
            parts += (name, b": ", value, b"\r\n")
    if request.chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if request.upgrade:
        parts.append(b"Connection: upgrade\r\n")
    parts += (credential_name, b": ", token, b"\r\nX-Forwarded-For: ", client)
    parts.append(b"\r\nX-Forwarded-Proto: http\r\n\r\n")
    return b"".join(parts)


def client_head(
    status: int,
    reason: bytes,
    headers: list[Header],
    extra: list[Header],
    *,
    listed: bytes | None = None,
    replace: frozenset[bytes] = frozenset(),
    chunked: bool = False,
    connection: bytes | None = None,
) -> bytes:
    """A response head for the frontend: the upstream's end-to-end headers (minus those its
    Connection header `listed` and those named in `replace`), then ours; `connection` is
    our own Connection header (close, keep-alive for HTTP/1.0, upgrade after a 101)."""
    drop = HOP_BY_HOP | (connection_tokens(listed) - FRAMING) | replace
    if chunked:
        drop |= {b"content-length"}
    upgrade = connection == b"upgrade"
    parts = [b"HTTP/1.1 %d " % status, reason, b"\r\n"]
    for name, value in headers:
        lower = name.lower()
        if lower not in drop or (upgrade and lower == b"upgrade"):
            parts += (name, b": ", value, b"\r\n")
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
    if chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if connection is not None:
        parts += (b"Connection: ", connection, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def local_response(
    status: int,
    body: bytes = b"",
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: list[Header] | None = None,
    close: bool = False,
) -> bytes:
    """A whole response the proxy answers itself (to HTTP/1.0 keep-alive clients too: they
    stop reusing a connection, but the answer holds)."""
    headers = list(extra or ())
    if body:
        headers.append((b"Content-Type", content_type))
    headers.append((b"Content-Length", b"%d" % len(body)))
    reason = HTTPStatus(status).phrase.encode()
    return client_head(status, reason, [], headers, connection=b"close" if close else None) + body
