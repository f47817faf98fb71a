"""A keep-alive HTTP client: one TCP connection per backend, so connects stay off the clock."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 120.0


class RouteFailed(Exception):
    """The Worker answered with something other than 200 and a JSON body."""


class Client:
    """GETs against one backend over a persistent HTTP/1.1 connection."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, got {base_url!r}")
        self.base_url = base_url
        self.connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_SECONDS
        )

    def timed_get(self, path: str) -> tuple[float, dict[str, Any]]:
        """Wall time from sending the request to the last body byte, and the decoded body."""
        started = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RouteFailed(f"{self.base_url}{path}: HTTP {response.status}: {body[:500]!r}")
        return elapsed, json.loads(body)

    def close(self) -> None:
        self.connection.close()
