"""The supervisor drains every child's output: no line, flood or full disk freezes the stack.

A child blocks as soon as its stdout pipe is full, so a supervisor that stops
reading (a line longer than a buffer, a log file it cannot write) freezes every
request, never sees the child die and never finishes stopping.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from groundflare.logs import RotatingLog
from groundflare.output import CONTINUED, MAX_LINE_BYTES, ChildOutput
from tests.stack import WORKERS, next_event, request, runtime
from tests.tmpfs import fill, small_disk

LOUD = WORKERS / "loud" / "wrangler.toml"
MIB = 1024 * 1024


def collected(tmp_path: Path) -> tuple[ChildOutput, list[str]]:
    echoed: list[str] = []
    output = ChildOutput(
        "child", RotatingLog(tmp_path / "child.log"), lambda _, t: echoed.append(t)
    )
    return output, echoed


def test_lines_are_split_where_they_end_whatever_the_chunks(tmp_path):
    output, echoed = collected(tmp_path)
    for chunk in (b"one\ntw", b"o\r\n", b"", b"three\nfour"):
        output.feed(chunk)
    output.finish()
    assert echoed == ["one", "two", "three", "four"]


def test_an_overlong_line_is_cut_into_marked_pieces(tmp_path):
    output, echoed = collected(tmp_path)
    output.feed(b"x" * (MAX_LINE_BYTES * 2 + 5) + b"\nnext\n")
    assert echoed == [
        "x" * MAX_LINE_BYTES + CONTINUED,
        "x" * MAX_LINE_BYTES + CONTINUED,
        "x" * 5,
        "next",
    ]


def test_the_failure_reason_is_the_runtimes_error_not_a_workers_console_line(tmp_path):
    output, _ = collected(tmp_path)
    output.feed(
        b"workerd/server/server.c++:4321: error: Uncaught SyntaxError: Unexpected token\n"
        b"a line the Worker printed\n"
    )
    assert output.last_words("exited") == (
        "workerd/server/server.c++:4321: error: Uncaught SyntaxError: Unexpected token"
    )
    other, _ = collected(tmp_path)
    other.feed(b"shim: the index is corrupt\n\n")
    assert other.last_words("exited") == "shim: the index is corrupt"


@pytest.mark.parametrize(
    ("printed", "reason"),
    [
        (
            "service w: Uncaught Error: boom at load\n  at w.js:3:7\n",
            "service w: Uncaught Error: boom at load (at w.js:3:7)",
        ),
        (
            'service w: Uncaught Error: No such module "x.js".\n  imported from "w.js"\n',
            'service w: Uncaught Error: No such module "x.js". (imported from "w.js")',
        ),
    ],
)
def test_a_worker_that_fails_to_load_is_reported_with_where(tmp_path, printed, reason):
    output, _ = collected(tmp_path)
    output.feed(f"a warning the Worker printed first\n{printed}".encode())
    assert output.last_words("exited") == reason


def test_a_closed_stderr_never_stops_the_log(tmp_path):
    def broken(_component: str, _text: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    log_file = RotatingLog(tmp_path / "child.log")
    output = ChildOutput("child", log_file, broken)
    output.feed(b"first\nsecond\n")
    log_file.close()
    assert (tmp_path / "child.log").read_text() == "first\nsecond\n"


def pieces_of_long_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("LLLL")]


def test_a_megabyte_console_line_is_logged_in_pieces_while_the_stack_keeps_serving(
    tmp_data, stacks
):
    stack = stacks([LOUD], tmp_data)
    for _ in range(3):
        assert request(stack.url + f"/?line={MIB}") == (200, b"ok")
    workerd = runtime(tmp_data)["components"]["workerd"]["pid"]
    os.kill(workerd, signal.SIGKILL)
    event = next_event(stack)
    assert (event["event"], event["component"]) == ("restarted", "workerd")
    assert request(stack.url + f"/?line={MIB}") == (200, b"ok")
    assert stack.stop() == 0
    pieces = pieces_of_long_lines((tmp_data / "logs" / "workerd.log").read_text())
    whole = "".join(piece.removesuffix(CONTINUED) for piece in pieces)
    assert whole == ("L" * (MIB - 1) + "!") * 4
    assert max(len(piece.encode()) for piece in pieces) == MAX_LINE_BYTES + len(CONTINUED)


def test_a_full_log_disk_costs_log_lines_not_requests_and_logging_resumes(tmp_data, stacks):
    with small_disk(tmp_data / "logs", "1m") as logs:
        stack = stacks([LOUD], tmp_data)
        filler = fill(logs)
        for _ in range(5):
            assert request(stack.url + "/?lines=2000") == (200, b"ok")
        filler.unlink()
        assert request(stack.url + "/?then=after-the-disk-had-room") == (200, b"ok")
        assert stack.stop() == 0
        assert "after-the-disk-had-room" in (logs / "workerd.log").read_text()
    stderr = stack.stderr()
    assert stderr.count("workerd: cannot write") == 1
    assert "workerd: writing" in stderr
