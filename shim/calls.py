"""The binding calls Workers make, recorded while a test harness asks (the pytest plugin
shows a failing test's calls in its report, docs/testing.md). Off by default: the shim
then pays one attribute test per call."""

from __future__ import annotations

import time

from groundflare.shim.messages import Request, Response

# Enough of a request body to show a D1 query or a small KV value.
PEEK_BYTES = 1024
# A test that makes more calls than this keeps its first ones.
MAX_CALLS = 2000


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] | None = None

    def start(self) -> None:
        self.calls = []

    def stop(self) -> list[dict[str, object]]:
        calls, self.calls = self.calls or [], None
        return calls

    def note(self, tag: str, started: float, request: Request, response: Response | None) -> None:
        """One call the shim answered (`response` None: the handler failed)."""
        if self.calls is None or len(self.calls) >= MAX_CALLS:
            return
        query = f"?{request.query_string}" if request.query_string else ""
        self.calls.append(
            {
                "resource": tag,
                "method": request.method,
                "path": request.path + query,
                "status": 500 if response is None else response.status,
                "ms": round((time.time() - started) * 1000, 3),
                "body": request.body.head[:PEEK_BYTES].decode("utf-8", "replace"),
            }
        )
