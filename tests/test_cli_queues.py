"""`groundflare queues send` puts a message on a queue through production's HTTP push API,
and the consumer Worker receives it; on a stopped data dir the message waits for the next
start. `groundflare queues list` names the queues."""

from __future__ import annotations

from tests.stack import advance_clock
from tests.test_queues import BATCH_TIMEOUT, CONSUMER, PRODUCER, TEST_CLOCK, wait_for
from tests.v4 import groundflare


def test_a_message_sent_from_the_command_line_reaches_the_consumer(tmp_data, stacks):
    stack = stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)
    data = ["--data-dir", str(tmp_data)]
    assert "jobs" in groundflare("queues", "list", *data).stdout
    done = groundflare("queues", "send", "jobs", '{"tag": "cli-json"}', *data)
    assert done.returncode == 0, done.stderr
    done = groundflare("queues", "send", "jobs", "cli-text", "--content-type", "text", *data)
    assert done.returncode == 0, done.stderr
    advance_clock(stack, BATCH_TIMEOUT)
    (json_delivery,) = wait_for(stack, "cli-json")
    # The consumer Worker records each body with its JavaScript type.
    assert json_delivery["body"] == {"type": "object", "value": {"tag": "cli-json"}}
    (text_delivery,) = wait_for(stack, "cli-text")
    assert text_delivery["body"] == {"type": "string", "value": "cli-text"}


def test_a_message_sent_to_a_stopped_data_dir_is_delivered_at_the_next_start(tmp_data, stacks):
    assert stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK).stop() == 0
    done = groundflare("queues", "send", "jobs", '{"tag": "offline"}', "--data-dir", str(tmp_data))
    assert done.returncode == 0, done.stderr
    stack = stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)
    advance_clock(stack, BATCH_TIMEOUT)
    assert wait_for(stack, "offline")[0]["body"]["value"] == {"tag": "offline"}


def test_a_message_that_is_not_json_is_refused_before_sending(tmp_data, stacks):
    stacks([PRODUCER, CONSUMER], tmp_data, env=TEST_CLOCK)
    done = groundflare("queues", "send", "jobs", "{not json", "--data-dir", str(tmp_data))
    assert done.returncode == 2
    assert "use --content-type text" in done.stderr
