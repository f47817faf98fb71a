"""A keep-alive HTTP client: one connection per backend, connects kept off the clock.

workerd (under both backends) closes a keep-alive connection after ~5 s idle, and a request
sent as it closes fails with RemoteDisconnected. Interleaving leaves a backend idle while the
other one works, so a connection idle for longer than IDLE_RECONNECT_SECONDS is replaced, and
connected, before the clock starts.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 120.0
IDLE_RECONNECT_SECONDS = 1.0


class RouteFailed(Exception):
    """The Worker answered with something other than 200 and a JSON body."""


class Client:
    """GETs against one backend over a persistent HTTP/1.1 connection."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, got {base_url!r}")
        self.base_url = base_url
        self.host = parts.hostname
        self.port = parts.port
        self.connection: http.client.HTTPConnection | None = None
        self.last_used = 0.0

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

    def timed_get(self, path: str) -> tuple[float, dict[str, Any]]:
        """Wall time from sending the request to the last body byte, and the decoded body."""
        connection = self._ready_connection()
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        self.last_used = time.monotonic()
        if response.status != 200:
            raise RouteFailed(f"{self.base_url}{path}: HTTP {response.status}: {body[:500]!r}")
        return elapsed, json.loads(body)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
