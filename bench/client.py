"""A keep-alive HTTP client: one connection per backend, connects kept off the clock.

workerd (under both backends) closes a keep-alive connection after ~5 s idle, and a request
sent as it closes fails with RemoteDisconnected. Interleaving leaves a backend idle while the
other one works, so a connection idle for longer than IDLE_RECONNECT_SECONDS is replaced, and
connected, before the clock starts.

Bulk bodies never sit in memory whole: downloads are read into one reused buffer and only
counted, uploads are sent from one pattern chunk again and again.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 600.0
IDLE_RECONNECT_SECONDS = 1.0
BULK_CHUNK = 1 << 20


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
        self._buffer = bytearray(BULK_CHUNK)

    def _ready_connection(self) -> http.client.HTTPConnection:
        """The kept-alive connection, or a freshly connected one if it sat idle too long."""
        idle = time.monotonic() - self.last_used
        if self.connection is not None and idle > IDLE_RECONNECT_SECONDS:
            self.close()
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                self.host, self.port, timeout=REQUEST_TIMEOUT_SECONDS
            )
            self.connection.connect()
        return self.connection

    def _finish(self, path: str, response: http.client.HTTPResponse, body: bytes) -> None:
        self.last_used = time.monotonic()
        if response.status != 200:
            self.close()
            raise RouteFailed(f"{self.base_url}{path}: HTTP {response.status}: {body[:500]!r}")

    def timed_get(self, path: str) -> tuple[float, dict[str, Any]]:
        """Wall time from sending the request to the last body byte, and the decoded body."""
        connection = self._ready_connection()
        started = time.perf_counter()
        connection.request("GET", path, headers=self.headers)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        self._finish(path, response, body)
        return elapsed, json.loads(body)

    def timed_download(self, path: str) -> tuple[float, int]:
        """Wall time to the last byte of a bulk GET, and the bytes received (counted only)."""
        connection = self._ready_connection()
        view = memoryview(self._buffer)
        started = time.perf_counter()
        connection.request("GET", path, headers=self.headers)
        response = connection.getresponse()
        if response.status != 200:
            self._finish(path, response, response.read())
        received = 0
        while read := response.readinto(view):
            received += read
        elapsed = time.perf_counter() - started
        self._finish(path, response, b"")
        return elapsed, received

    def timed_upload(self, path: str, size: int) -> tuple[float, dict[str, Any]]:
        """Wall time of a POST of `size` pattern bytes (Content-Length framed) to its JSON
        answer, and that answer."""
        connection = self._ready_connection()
        chunk = memoryview(pattern_chunk())
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
        self._finish(path, response, body)
        return elapsed, json.loads(body)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
