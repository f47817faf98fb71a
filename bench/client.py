"""A keep-alive HTTP client: one connection per backend, connects kept off the clock.

workerd (under both backends) closes a keep-alive connection after ~5 s idle, and a request
sent as it closes fails with RemoteDisconnected. Interleaving leaves a backend idle while the
other one works, so a connection idle for longer than IDLE_RECONNECT_SECONDS is replaced, and
connected, before the clock starts. workerd also closes a connection right after a request
that took more than ~5 s (a 1 GiB put on Miniflare), without saying so in the response, so
a connection is replaced after a request that long too, and one the peer has already closed
(it reads as readable) is. Should a close still cross a request on the way, the request
cannot have been served: it is sent again on a fresh connection, and timed from there.

Bulk bodies never sit in memory whole: downloads are read into one reused buffer and only
counted, uploads are sent from one pattern chunk again and again.
"""

from __future__ import annotations

import http.client
import json
import select
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 600.0
IDLE_RECONNECT_SECONDS = 1.0
LONG_REQUEST_SECONDS = 4.0
BULK_CHUNK = 1 << 20
# What a request sent on a connection the server had just closed fails with.
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

T = TypeVar("T")


class RouteFailed(Exception):
    """The Worker answered with something other than 200 and a JSON body."""


def pattern_chunk(size: int = BULK_CHUNK) -> bytes:
    """Bytes that do not compress to nothing, the same on every run."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


class Client:
    """Requests against one backend over a persistent HTTP/1.1 connection."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, got {base_url!r}")
        self.base_url = base_url
        self.host = parts.hostname
        self.port = parts.port
        self.headers = dict(headers or {})
        self.connection: http.client.HTTPConnection | None = None
        self.last_used = 0.0
        self.last_seconds = 0.0
        self._buffer = bytearray(BULK_CHUNK)

    def _ready_connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """The kept-alive connection, or a freshly connected one (then True) if the old one
        sat idle too long, served a long request, or was closed by the peer."""
        idle = time.monotonic() - self.last_used
        if self.connection is not None and (
            idle > IDLE_RECONNECT_SECONDS
            or self.last_seconds > LONG_REQUEST_SECONDS
            or self._peer_closed()
        ):
            self.close()
        if self.connection is not None:
            return self.connection, False
        self.connection = http.client.HTTPConnection(
            self.host, self.port, timeout=REQUEST_TIMEOUT_SECONDS
        )
        self.connection.connect()
        return self.connection, True

    def _peer_closed(self) -> bool:
        """An idle keep-alive connection has nothing to read unless the peer closed it."""
        sock = self.connection.sock if self.connection is not None else None
        if sock is None:
            return True
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    def _exchange(self, exchange: Callable[[http.client.HTTPConnection], T]) -> T:
        """Run one timed exchange; once more on a fresh connection if a stale one failed."""
        while True:
            connection, fresh = self._ready_connection()
            try:
                return exchange(connection)
            except STALE_CONNECTION:
                self.close()
                if fresh:
                    raise

    def _finish(
        self, path: str, response: http.client.HTTPResponse, body: bytes, seconds: float
    ) -> None:
        self.last_used = time.monotonic()
        self.last_seconds = seconds
        if response.status != 200:
            self.close()
            raise RouteFailed(f"{self.base_url}{path}: HTTP {response.status}: {body[:500]!r}")

    def timed_get(self, path: str) -> tuple[float, dict[str, Any]]:
        """Wall time from sending the request to the last body byte, and the decoded body."""

        def exchange(connection: http.client.HTTPConnection) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            connection.request("GET", path, headers=self.headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            self._finish(path, response, body, elapsed)
            return elapsed, json.loads(body)

        return self._exchange(exchange)

    def timed_download(self, path: str) -> tuple[float, int]:
        """Wall time to the last byte of a bulk GET, and the bytes received (counted only)."""
        view = memoryview(self._buffer)

        def exchange(connection: http.client.HTTPConnection) -> tuple[float, int]:
            started = time.perf_counter()
            connection.request("GET", path, headers=self.headers)
            response = connection.getresponse()
            if response.status != 200:
                self._finish(path, response, response.read(), 0.0)
            received = 0
            while read := response.readinto(view):
                received += read
            elapsed = time.perf_counter() - started
            self._finish(path, response, b"", elapsed)
            return elapsed, received

        return self._exchange(exchange)

    def timed_upload(self, path: str, size: int) -> tuple[float, dict[str, Any]]:
        """Wall time of a POST of `size` pattern bytes (Content-Length framed) to its JSON
        answer, and that answer."""
        chunk = memoryview(pattern_chunk())

        def exchange(connection: http.client.HTTPConnection) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            connection.putrequest("POST", path, skip_accept_encoding=True)
            for name, value in {**self.headers, "Content-Length": str(size)}.items():
                connection.putheader(name, value)
            connection.endheaders()
            for offset in range(0, size, len(chunk)):
                connection.send(chunk[: min(len(chunk), size - offset)])
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            self._finish(path, response, body, elapsed)
            return elapsed, json.loads(body)

        return self._exchange(exchange)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
