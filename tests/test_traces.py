"""The request log: every invocation recorded with its console lines, exceptions and the
binding calls it made, read back through the explorer's read-only SQL endpoint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import connect_ws

from groundflare.contracts.traces import TraceRetention
from groundflare.shim.traces.byte_ring import ByteRing
from groundflare.shim.traces.calls import Call
from groundflare.shim.traces.describe import span
from groundflare.shim.traces.records import InvocationRecord, LogRecord, SpanRecord
from groundflare.shim.traces.store import Filters, TraceStore
from tests.explorer import PROBE, PROBE_D1, PROBE_KV, Browser, browser, explorer_stack, signed_in
from tests.stack import (
    WORKERS,
    RunningStack,
    advance_clock,
    component_pid,
    eventually,
    request,
)

__all__ = ["browser", "explorer_stack"]

QUERY = "/explorer/api/traces/query"


def sql(browser: Browser, text: str) -> list[dict[str, Any]]:
    status, answer = browser.json(QUERY, {"sql": text}, {"X-CSRF-Token": browser.csrf()})
    assert status == 200, answer
    columns = answer["result"]["columns"]
    return [dict(zip(columns, row, strict=True)) for row in answer["result"]["rows"]]


def invocation_of(browser: Browser, url: str) -> dict[str, Any]:
    def logged() -> list[dict[str, Any]]:
        return sql(browser, f"SELECT * FROM invocations WHERE url = '{url}'")

    (found,) = eventually(logged, what=f"{url} in the request log")
    return found


def test_a_request_is_logged_with_its_d1_spans_and_console_line(
    explorer_stack: RunningStack, browser: Browser
) -> None:
    url = f"{explorer_stack.url}/hello?name=ada"
    assert request(url)[0] == 200
    found = invocation_of(browser, url)
    assert (found["worker"], found["type"], found["outcome"], found["status"]) == (
        "explorer-probe",
        "fetch",
        "ok",
        200,
    )
    spans = sql(browser, f"SELECT * FROM spans WHERE invocation = {found['id']} ORDER BY id")
    assert [s["name"] for s in spans] == ["d1.exec", "d1.query"]
    assert {s["resource"] for s in spans} == {f"d1:{PROBE_D1}"}
    assert '"sql":"SELECT ?1 AS greeting"' in spans[1]["attributes"]
    assert '"params":["hello ada"]' in spans[1]["attributes"]
    assert '"rows":1' in spans[1]["attributes"] and '"rows_read":' in spans[1]["attributes"]
    logs = sql(browser, f"SELECT level, message FROM logs WHERE invocation = {found['id']}")
    assert logs == [{"level": "log", "message": "hello, ada"}]


def test_an_uncaught_exception_is_logged_with_its_stack_in_the_source(
    explorer_stack: RunningStack, browser: Browser
) -> None:
    url = f"{explorer_stack.url}/boom"
    assert request(url)[0] == 500
    found = invocation_of(browser, url)
    assert found["outcome"] == "exception" and found["status"] is None
    (line,) = sql(browser, f"SELECT * FROM logs WHERE invocation = {found['id']}")
    assert line["level"] == "exception"
    assert line["message"] == "Error: the probe exploded on purpose"
    # The frame names the Worker's file, line and column.
    assert f"at explode ({PROBE.parent / 'worker.js'}:" in line["stack"]


def test_a_bundled_workers_stack_points_at_its_typescript_source(
    tmp_path: Path, stacks: Any
) -> None:
    typed = WORKERS / "explorer-ts"
    stack = stacks([typed / "wrangler.toml"], tmp_path / "data")
    assert request(f"{stack.url}/boom")[0] == 500
    visitor = signed_in(stack)
    found = invocation_of(visitor, f"{stack.url}/boom")
    (line,) = sql(visitor, f"SELECT * FROM logs WHERE invocation = {found['id']}")
    assert line["message"] == "Error: typed probe: bundled"
    frames = line["stack"].splitlines()
    assert f"({typed / 'src' / 'boom.ts'}:3:" in frames[0]
    assert f"({typed / 'src' / 'index.ts'}:6:" in frames[1]
    # The terminal shows it too, as `wrangler dev` does (workerd prints only the message).
    shown = "explorer-ts: uncaught Error: typed probe: bundled"
    eventually(lambda: shown in stack.stderr(), what="the exception on the terminal")
    printed = stack.stderr().split(shown, 1)[1]
    assert f"({typed / 'src' / 'boom.ts'}:3:" in printed.splitlines()[1]


def test_kv_r2_and_durable_object_calls_are_logged(
    explorer_stack: RunningStack, browser: Browser
) -> None:
    kv_url = f"{explorer_stack.url}/kv?key=missing"
    assert request(kv_url)[0] == 200
    (span,) = sql(
        browser, f"SELECT * FROM spans WHERE invocation = {invocation_of(browser, kv_url)['id']}"
    )
    assert (span["name"], span["resource"]) == ("kv.get", f"kv:{PROBE_KV}")
    assert '"key":"missing"' in span["attributes"] and '"found":false' in span["attributes"]
    r2_url = f"{explorer_stack.url}/files/notes/a.txt"
    assert request(r2_url, b"hello", "PUT")[0] == 200
    (span,) = sql(
        browser, f"SELECT * FROM spans WHERE invocation = {invocation_of(browser, r2_url)['id']}"
    )
    assert span["name"] == "r2.put" and '"key":"notes/a.txt"' in span["attributes"]
    do_url = f"{explorer_stack.url}/count/traced"
    assert request(do_url, b"", "POST")[0] == 200
    invocations = eventually(
        lambda: (
            sql(browser, f"SELECT * FROM invocations WHERE url = '{do_url}'")
            if len(sql(browser, f"SELECT id FROM invocations WHERE url = '{do_url}'")) == 2
            else None
        ),
        what="the Worker's and the Durable Object's invocations",
    )
    models = sorted(i["execution_model"] for i in invocations)
    assert models == ["durableObject", "stateless"]
    caller = next(i for i in invocations if i["execution_model"] == "stateless")
    (call,) = sql(browser, f"SELECT * FROM spans WHERE invocation = {caller['id']}")
    assert (call["name"], call["resource"]) == ("do.fetch", "explorer-probe.Counter")


def test_a_subrequest_is_a_fetch_span(explorer_stack: RunningStack, browser: Browser) -> None:
    target = f"{explorer_stack.url}/kv?key=from-a-subrequest"
    url = f"{explorer_stack.url}/fetch?url={target}"
    assert request(url)[0] == 200
    found = invocation_of(browser, url)
    spans = sql(browser, f"SELECT * FROM spans WHERE invocation = {found['id']}")
    fetches = [s for s in spans if s["name"] == "fetch"]
    assert [(s["resource"], s["status"]) for s in fetches] == [(target, 200)]


def test_the_log_sql_is_read_only(explorer_stack: RunningStack, browser: Browser) -> None:
    token = browser.csrf()
    for statement in (
        "DELETE FROM invocations",
        "DROP TABLE spans",
        "ATTACH DATABASE '/tmp/x' AS x",
        "PRAGMA writable_schema = 1",
    ):
        status, answer = browser.json(QUERY, {"sql": statement}, {"X-CSRF-Token": token})
        assert status == 400, (statement, answer)
        assert answer["success"] is False
    without_token = browser.open(QUERY, b'{"sql": "SELECT 1"}', "POST")
    assert without_token[0] == 403


def test_a_stack_with_no_traces_records_nothing(tmp_path: Path, stacks: Any) -> None:
    stack = stacks([PROBE], tmp_path / "data", extra=["--no-traces"])
    assert request(f"{stack.url}/hello")[0] == 200
    visitor = signed_in(stack)
    status, _, page = visitor.open("/explorer/log")
    assert status == 404 and b"the request log is off" in page
    assert not (tmp_path / "data" / "traces" / "traces.sqlite").exists()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_a_durable_object_called_in_a_loop_is_logged_call_by_call_on_few_connections(
    tmp_path: Path, stacks: Any
) -> None:
    # One tail invocation per call: posted one by one, they outran the shim and each held a
    # connection of its own, until workerd ran out of file descriptors and died.
    stack = stacks([WORKERS / "do-loop" / "wrangler.toml"], tmp_path / "data")
    for round_ in range(1, 4):
        assert request(f"{stack.url}/?n=500") == (200, str(500 * round_).encode())
    workerd = component_pid(tmp_path / "data", "workerd")
    assert len(list(Path(f"/proc/{workerd}/fd").iterdir())) < 100
    visitor = signed_in(stack)

    def all_logged() -> int | None:
        (row,) = sql(
            visitor,
            "SELECT count(*) AS n FROM invocations WHERE execution_model = 'durableObject'",
        )
        return row["n"] if row["n"] == 1500 else None

    assert eventually(all_logged, what="1,500 object calls in the request log") == 1500


TRACED_EVENTS = WORKERS / "traced-events" / "wrangler.toml"


def test_queue_alarm_and_websocket_invocations_are_logged_with_their_lines(
    tmp_path: Path, stacks: Any
) -> None:
    stack = stacks([TRACED_EVENTS], tmp_path / "data", env={"GROUNDFLARE_TEST_CLOCK": "1"})
    assert request(f"{stack.url}/enqueue")[0] == 200
    advance_clock(stack, 60)
    assert request(f"{stack.url}/alarm")[0] == 200
    ws_url = stack.url.replace("http://", "ws://") + "/ws"
    with httpx.Client() as client, connect_ws(ws_url, client) as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "echo hello"
    visitor = signed_in(stack)

    def logged() -> dict[str, tuple[str | None, str, str]] | None:
        rows = sql(
            visitor,
            "SELECT i.type, i.trigger, i.execution_model, l.message FROM invocations i "
            "JOIN logs l ON l.invocation = i.id WHERE i.type != 'fetch'",
        )
        found = {
            row["type"]: (row["trigger"], row["execution_model"], row["message"]) for row in rows
        }
        return found if len(found) == 3 else None

    assert eventually(logged, what="queue, alarm and websocket invocations") == {
        "queue": ("traced-jobs", "stateless", "queue got traced"),
        "alarm": (None, "durableObject", "alarm rang"),
        "websocket": ("message", "durableObject", "websocket got hello"),
    }


def test_an_invocation_whose_trace_holds_a_bigint_is_recorded_with_its_line(
    tmp_path: Path, stacks: Any
) -> None:
    stack = stacks([TRACED_EVENTS], tmp_path / "data")
    assert request(f"{stack.url}/bigint")[0] == 200
    visitor = signed_in(stack)

    def logged() -> list[dict[str, Any]] | None:
        return sql(visitor, "SELECT message FROM logs") or None

    assert eventually(logged, what="the invocation with a BigInt in its trace") == [
        {"message": "counted 18446744073709551616"}
    ]


def _record(worker: str, started: float, lines: int) -> InvocationRecord:
    return InvocationRecord(
        worker=worker,
        type="fetch",
        started=started,
        ended=started + 0.01,
        outcome="ok",
        logs=[LogRecord(at=started, level="log", message="x" * 1000) for _ in range(lines)],
        spans=[SpanRecord("kv.get", "kv:ns", started, 0.1, 200, attributes={"key": "k"})],
    )


@pytest.mark.parametrize("bound", ["age", "size"])
async def test_the_log_keeps_within_its_bounds(tmp_path: Path, bound: str) -> None:
    retention = TraceRetention(max_age_hours=1.0, max_mb=1)
    store = TraceStore(tmp_path, retention)
    await store.open()
    try:
        now = time.time()
        if bound == "age":
            await store.add(_record("old", now - 2 * 3600, 1))
            await store.add(_record("new", now, 1))
            await store.prune()
            assert [r.worker for r in await store.recent(Filters(), 10)] == ["new"]
        else:
            for index in range(40):
                await store.add(_record(f"w{index}", now, 100))
            await store.prune()
            assert store.path.stat().st_size <= 2 * 1024 * 1024
            kept = [r.worker for r in await store.recent(Filters(), 100)]
            assert kept and kept[0] == "w39" and "w0" not in kept
    finally:
        await store.close()


def test_a_calls_bytes_are_kept_in_a_ring_until_newer_calls_overwrite_them() -> None:
    ring = ByteRing(size=10)
    first = ring.put(b"abc", b"def")
    assert (ring.get(first, 3), ring.get(first + 3, 3)) == (b"abc", b"def")
    second = ring.put(b"ghij", b"kl")  # does not fit before the end: a new lap from 0
    assert (ring.get(second, 4), ring.get(second + 4, 2)) == (b"ghij", b"kl")
    assert ring.get(first, 3) is None
    third = ring.put(b"mn", b"")
    assert ring.get(third, 2) == b"mn"
    assert ring.get(second, 4) == b"ghij"
    fourth = ring.put(b"op", b"qrst")  # a third lap, over the second's bytes
    assert ring.get(fourth + 2, 4) == b"qrst"
    assert ring.get(second, 4) is None
    assert ring.get(third, 2) == b"mn"
    # More than the ring holds: not kept, read back empty.
    assert ring.put(b"x" * 6, b"y" * 5) == -1
    assert ring.get(-1, 0) == b""


def test_a_d1_span_whose_bytes_were_overwritten_says_so_instead_of_guessing() -> None:
    ring = ByteRing(size=100)
    sent = b'{"sql":"SELECT 1","params":[]}'
    answer = b'[{"results":[{"1":1}],"meta":{"rows_read":1}}]'
    bytes_at = (ring.put(sent, answer), len(sent), len(answer))
    entry = (0, "d1:db", 1.0, 1.001, "POST", "/query", "", None, None, 200, *bytes_at)

    described = span(Call(entry, ring), shared=False)
    assert described.attributes == {"sql": "SELECT 1", "meta": {"rows_read": 1}, "rows": 1}

    ring.put(b"x" * 50, b"")  # newer calls' bytes take the ring's space
    overwritten = span(Call(entry, ring), shared=False)
    assert (overwritten.name, overwritten.attributes) == ("d1.query", {"bytes_overwritten": True})
