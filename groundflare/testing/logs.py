"""What a test's Workers printed and which binding calls they made, for the test's report
(docs/testing.md): workerd's output is read from `logs/workerd.log` from where it stood
when the test began; the calls are recorded by the shim while the test runs."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groundflare.testing.stack import TestStack

MARK_PREFIX = "groundflare-test-mark-"
MARK_TIMEOUT_SECONDS = 10.0
CALLS_PATH = "/_groundflare/calls"


class TestLogs:
    """caplog for Workers: `groundflare.logs.text`, `.lines`, `.calls`."""

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(self, stack: TestStack) -> None:
        self._stack = stack
        self._file = stack.data_dir / "logs" / "workerd.log"
        self._offset = 0
        self._calls: list[dict[str, Any]] = []
        self._recording = False

    def start(self) -> None:
        """From now on: what the Workers print, and every binding call."""
        self._offset = self._size()
        self._calls = []
        self._stack.channel.shim_post(f"{CALLS_PATH}/start")
        self._recording = True

    def stop(self) -> None:
        if self._recording:
            self._recording = False
            self._take_calls(restart=False)

    def clear(self) -> None:
        """Forget what was printed and called so far."""
        self._mark()
        self._offset = self._size()
        if self._recording:
            self._take_calls(restart=True)
        self._calls = []

    @property
    def text(self) -> str:
        """Everything workerd printed since the test began (console.*, uncaught errors)."""
        self._mark()
        printed = self._read_since(self._offset)
        return "".join(line for line in printed.splitlines(True) if MARK_PREFIX not in line)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The binding calls so far: `{"bindings", "resource", "method", "path", "status",
        "ms", "body"}` (the body's first KiB)."""
        if self._recording:
            self._take_calls(restart=True)
        return list(self._calls)

    def _take_calls(self, restart: bool) -> None:
        answer = self._stack.channel.shim_post(f"{CALLS_PATH}/stop")
        names = self._stack.resource_bindings()
        for call in answer["calls"]:
            call["bindings"] = names.get(call["resource"], [])
            self._calls.append(call)
        if restart:
            self._stack.channel.shim_post(f"{CALLS_PATH}/start")

    def _size(self) -> int:
        try:
            return self._file.stat().st_size
        except FileNotFoundError:
            return 0

    def _mark(self) -> None:
        """Print a mark through the door and wait until the log holds it: then everything
        printed before it is there too."""
        mark = f"{MARK_PREFIX}{uuid.uuid4().hex}"
        self._stack.channel.door.post("/log", content=mark)
        deadline = time.monotonic() + MARK_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if mark in self._read_since(self._offset):
                return
            time.sleep(0.005)

    def _read_since(self, offset: int) -> str:
        with self._file.open("rb") as log:
            log.seek(0, 2)
            if log.tell() < offset:  # rotated: the rest of the old file first
                rotated = self._file.with_name(self._file.name + ".1")
                earlier = rotated.read_bytes()[offset:] if rotated.exists() else b""
                log.seek(0)
                return (earlier + log.read()).decode("utf-8", "replace")
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def report(self) -> list[tuple[str, str]]:
        """The sections a failing test's report shows."""
        sections = []
        text = self.text
        if text:
            sections.append(("groundflare: Worker output", text))
        calls = self.calls
        if calls:
            sections.append(("groundflare: binding calls", "\n".join(map(describe, calls))))
        return sections


def describe(call: dict[str, Any]) -> str:
    names = ", ".join(call["bindings"]) or call["resource"]
    line = f"{names}: {call['method']} {call['path']} -> {call['status']} ({call['ms']} ms)"
    return f"{line} {call['body']}" if call["body"] else line
