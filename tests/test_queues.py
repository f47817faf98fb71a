"""Queues: `[[queues.producers]]` send through workerd's native binding into a queue the shim
keeps on disk, and `[[queues.consumers]]` of another Worker receive its batches, with
production's batching, retries, dead-letter queue, delays, limits and error texts."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from groundflare.contracts.host import try_lock
from groundflare.contracts.layout import DataDir
from tests.stack import (
    WORKERS,
    RunningStack,
    advance_clock,
    eventually,
    request,
)
from tests.v4 import stack_env

PRODUCER = WORKERS / "queues" / "producer.toml"
CONSUMER = WORKERS / "queues" / "consumer.toml"
TEST_CLOCK = {"GROUNDFLARE_TEST_CLOCK": "1"}
# consumer.toml: jobs has max_batch_size 4, max_batch_timeout 5, max_retries 2.
BATCH_TIMEOUT = 5


@pytest.fixture
def stack(tmp_data, stacks) -> RunningStack:
    return stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)


def call(stack: RunningStack, path: str, payload: Any, binding: str = "JOBS") -> dict[str, Any]:
    status, body = request(f"{stack.url}{path}?binding={binding}", payload, method="POST")
    assert status == 200, body
    return json.loads(body)


def send(stack: RunningStack, body: Any, binding: str = "JOBS", **extra: Any) -> dict[str, Any]:
    return call(stack, "/send", {"body": body, **extra}, binding)


def sent(stack: RunningStack, body: Any, **extra: Any) -> None:
    answer = send(stack, body, **extra)
    assert "ok" in answer, answer


def seen(stack: RunningStack) -> list[dict[str, Any]]:
    status, body = request(stack.ready["workers"]["queue-consumer"])
    assert status == 200, body
    return json.loads(body)


def deliveries(stack: RunningStack, tag: str) -> list[dict[str, Any]]:
    """Deliveries of messages whose body carries `tag`."""
    return [d for d in seen(stack) if tag in json.dumps(d["body"])]


def wait_for(stack: RunningStack, tag: str, count: int = 1) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        found = deliveries(stack, tag)
        return found if len(found) >= count else None

    return eventually(enough, what=f"{count} deliveries of {tag}")


def test_a_message_reaches_the_consumer_worker_after_max_batch_timeout(stack):
    answer = send(stack, {"tag": "first"})
    assert answer["ok"]["metadata"]["metrics"]["backlogCount"] == 1
    advance_clock(stack, BATCH_TIMEOUT)
    (delivery,) = wait_for(stack, "first")
    assert delivery["queue"] == "jobs"
    assert delivery["attempts"] == 1
    assert len(delivery["id"]) == 32
    assert delivery["body"] == {"type": "object", "value": {"tag": "first"}}


def test_a_full_batch_goes_out_at_once_with_max_batch_size_messages(stack):
    batch = {"messages": [{"body": {"tag": f"full-{i}"}} for i in range(6)]}
    assert "ok" in call(stack, "/batch", batch)
    first = wait_for(stack, "full-", 4)
    assert [d["batch"] for d in first] == [4, 4, 4, 4]
    # The two left over wait for max_batch_timeout: only moving the clock releases them.
    advance_clock(stack, BATCH_TIMEOUT)
    rest = [d for d in wait_for(stack, "full-", 6) if d["batch"] == 2]
    assert len(rest) == 2


def test_each_content_type_arrives_as_the_value_that_was_sent(stack):
    sent(stack, "plain text", options={"contentType": "text"})
    sent(stack, [1, 255], kind="bytes", options={"contentType": "bytes"})
    sent(stack, {"when": 5, "n": "12"}, kind="v8", options={"contentType": "v8"})
    sent(stack, {"json": [1, 2]}, options={"contentType": "json"})
    bodies = [d["body"] for d in wait_for(stack, "", 4)]
    assert {"type": "string", "value": "plain text"} in bodies
    assert {"type": "Uint8Array", "bytes": [1, 255]} in bodies
    assert {
        "type": "Map",
        "entries": [["when", {"type": "Date", "ms": 5}], ["n", {"type": "bigint", "value": "12"}]],
    } in bodies
    assert {"type": "object", "value": {"json": [1, 2]}} in bodies


def test_delay_seconds_holds_a_message_until_its_time(stack):
    sent(stack, {"tag": "later"}, options={"delaySeconds": 60})
    sent(stack, {"tag": "now"})
    advance_clock(stack, BATCH_TIMEOUT)
    wait_for(stack, "now")
    assert deliveries(stack, "later") == []
    advance_clock(stack, 60)
    (later,) = wait_for(stack, "later")
    assert later["attempts"] == 1


def test_a_producers_delivery_delay_applies_to_each_of_its_messages(stack):
    sent(stack, {"tag": "delayed-binding"}, binding="LATER")
    sent(stack, {"tag": "prompt"})
    advance_clock(stack, BATCH_TIMEOUT)
    wait_for(stack, "prompt")
    assert deliveries(stack, "delayed-binding") == []
    advance_clock(stack, 120)
    wait_for(stack, "delayed-binding")


def test_retried_messages_come_back_until_max_retries_then_go_to_the_dead_letter_queue(stack):
    sent(stack, {"tag": "doomed", "do": "retry"})
    for attempt in (1, 2, 3):
        advance_clock(stack, BATCH_TIMEOUT)
        wait_for(stack, "doomed", attempt)
    found = wait_for(stack, "doomed", 4)
    jobs = [d for d in found if d["queue"] == "jobs"]
    (dead,) = [d for d in found if d["queue"] == "jobs-dlq"]
    assert [d["attempts"] for d in jobs] == [1, 2, 3]
    # Same message, same id and timestamp; its attempts count again on the new queue.
    assert (dead["id"], dead["timestamp"], dead["attempts"]) == (
        jobs[0]["id"],
        jobs[0]["timestamp"],
        1,
    )


def test_retry_with_delay_seconds_waits_that_long_before_the_next_attempt(stack):
    sent(stack, {"tag": "patient", "do": "retry-later"})
    advance_clock(stack, BATCH_TIMEOUT)
    wait_for(stack, "patient")
    sent(stack, {"tag": "marker"})
    advance_clock(stack, BATCH_TIMEOUT)
    wait_for(stack, "marker")
    assert len(deliveries(stack, "patient")) == 1
    advance_clock(stack, 30)
    assert [d["attempts"] for d in wait_for(stack, "patient", 2)] == [1, 2]


def test_a_throwing_handler_retries_its_batch_but_an_explicit_ack_stands(stack):
    batch = {
        "messages": [
            {"body": {"tag": "acked", "do": "ack"}},
            {"body": {"tag": "plain"}},
            {"body": {"tag": "thrower", "do": "throw"}},
        ]
    }
    assert "ok" in call(stack, "/batch", batch)
    advance_clock(stack, BATCH_TIMEOUT)
    wait_for(stack, "thrower")
    advance_clock(stack, BATCH_TIMEOUT)
    assert [d["attempts"] for d in wait_for(stack, "plain", 2)] == [1, 2]
    assert [d["attempts"] for d in deliveries(stack, "thrower")][:2] == [1, 2]
    assert [d["attempts"] for d in deliveries(stack, "acked")] == [1]


def test_max_concurrency_1_never_runs_two_batches_at_once(stack):
    batch = {"messages": [{"body": {"tag": f"serial-{i}"}} for i in range(6)]}
    assert "ok" in call(stack, "/batch", batch, binding="SERIAL")
    found = wait_for(stack, "serial-", 6)
    assert {d["overlap"] for d in found} == {1}
    assert {d["batch"] for d in found} == {1}


def test_queued_messages_survive_a_restart_of_the_stack(tmp_data, stacks):
    first = stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)
    sent(first, {"tag": "kept"}, options={"delaySeconds": 3600})
    assert first.stop() == 0
    second = stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)
    assert deliveries(second, "kept") == []
    advance_clock(second, 3600 + BATCH_TIMEOUT)
    (kept,) = wait_for(second, "kept")
    assert kept["attempts"] == 1


def test_batches_wait_while_another_shim_of_the_data_dir_delivers(tmp_data, stacks):
    # During a reload that replaces the shim, the old one delivers until it exits: the lock
    # it holds is what the new one waits for (run/deliveries.lock). Here the test holds it.
    data = DataDir(root=tmp_data)
    data.prepare()
    with data.deliveries_lock.open("w") as held:
        assert try_lock(held.fileno())
        stack = stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)
        sent(stack, {"tag": "waits"})
        advance_clock(stack, BATCH_TIMEOUT)
        time.sleep(1.0)
        assert deliveries(stack, "waits") == []
    (delivery,) = wait_for(stack, "waits")
    assert delivery["attempts"] == 1


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        (
            {"kind": "big", "body": 128_001, "options": {"contentType": "text"}},
            "/send",
            "Message size out of bounds: 128001 bytes exceeds the limit of 128000 (10204)",
        ),
        (
            {"messages": [{"body": i} for i in range(101)]},
            "/batch",
            "Batch count out of bounds: 101 messages exceeds the limit of 100 (10206)",
        ),
        (
            {"messages": [{"body": "x" * 100_000, "contentType": "text"}] * 3},
            "/batch",
            "Batch size out of bounds: 300000 bytes exceeds the limit of 256000 (10205)",
        ),
        (
            {"body": 1, "options": {"delaySeconds": 86_401}},
            "/send",
            "Invalid message metadata: delaySeconds 86401 is out of range (0 to 86400 "
            "seconds) (10203)",
        ),
    ],
    ids=["message-over-128-kb", "batch-over-100", "batch-over-256-kb", "delay-over-24-h"],
)
def test_a_send_over_productions_limits_throws_its_error(stack, payload, path, message):
    answer = call(stack, path, payload)
    assert answer == {"error": {"name": "Error", "message": message}}


def test_an_unknown_content_type_is_workerds_own_type_error(stack):
    answer = send(stack, 1, options={"contentType": "xml"})
    assert answer["error"] == {
        "name": "TypeError",
        "message": "Unsupported queue message content type: xml",
    }


def test_the_http_push_api_sends_onto_the_queue_and_names_an_unknown_one(stack):
    env = stack_env(stack.data_dir)
    base = f"{env['CLOUDFLARE_API_BASE_URL']}/accounts/{env['CLOUDFLARE_ACCOUNT_ID']}/queues"
    auth = {"Authorization": f"Bearer {env['CLOUDFLARE_API_TOKEN']}"}
    message = {"body": {"tag": "over-http"}, "content_type": "json"}
    status, body = request(f"{base}/jobs/messages", message, method="POST", headers=auth)
    assert status == 200, body
    advance_clock(stack, BATCH_TIMEOUT)
    (delivery,) = wait_for(stack, "over-http")
    assert delivery["body"] == {"type": "object", "value": {"tag": "over-http"}}
    status, body = request(f"{base}/nope/messages", message, method="POST", headers=auth)
    assert (status, json.loads(body)["errors"]) == (
        404,
        [{"code": 10104, "message": "Queue does not exist"}],
    )
