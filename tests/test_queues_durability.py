"""Every acknowledged queue send is delivered at least once, whatever process is killed with
SIGKILL meanwhile: the shim (the queue's store and dispatcher), workerd (producer and
consumer), and `groundflare serve` itself (the whole stack, started again afterwards).

Unlike Miniflare, whose queues live in memory, a send the Worker saw succeed is in the
queue's SQLite file, and a batch leaves the file only once its consumer acknowledged it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import pytest

from tests.stack import WORKERS, component_pid, eventually, request, restarted

PRODUCER = WORKERS / "queues" / "producer.toml"
TALLY = WORKERS / "queues" / "tally.toml"
PER_ROUND = 25


class Sender(threading.Thread):
    """Sends {"n": 0, 1, ...} until told to stop; remembers which sends the Worker saw
    succeed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.acknowledged: list[int] = []
        self.next = 0

    def run(self) -> None:
        while not self.stop.is_set():
            n, self.next = self.next, self.next + 1
            try:
                status, body = request(self.url + "/send", {"body": {"n": n}}, method="POST")
            except OSError:
                continue
            if status == 200 and "ok" in json.loads(body):
                self.acknowledged.append(n)


def tally(url: str) -> set[int]:
    status, body = request(url)
    assert status == 200, body
    return set(json.loads(body))


def sending(url: str, start: int, acknowledged: list[int]) -> Sender:
    sender = Sender(url)
    sender.next = start
    sender.acknowledged = acknowledged
    sender.start()
    return sender


def until_acknowledged(sender: Sender, count: int) -> None:
    eventually(lambda: len(sender.acknowledged) >= count, 60, f"{count} acknowledged sends")


def kill_and_wait(data_dir: Any, component: str) -> None:
    old = component_pid(data_dir, component)
    os.kill(old, signal.SIGKILL)
    restarted(data_dir, component, old, timeout=60)


@pytest.mark.slow
def test_every_acknowledged_send_is_delivered_after_sigkill_of_any_process(tmp_data, stacks):
    stack = stacks([PRODUCER, TALLY], tmp_data)
    acknowledged: list[int] = []
    sender = sending(stack.url, 0, acknowledged)
    until_acknowledged(sender, PER_ROUND)
    kill_and_wait(tmp_data, "shim")
    until_acknowledged(sender, 2 * PER_ROUND)
    kill_and_wait(tmp_data, "workerd")
    until_acknowledged(sender, 3 * PER_ROUND)
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(30)
    sender.stop.set()
    sender.join(60)

    again = stacks([PRODUCER, TALLY], tmp_data)
    consumer = again.ready["workers"]["queue-tally"]
    sender = sending(again.url, sender.next, acknowledged)
    until_acknowledged(sender, 4 * PER_ROUND)
    sender.stop.set()
    sender.join(60)

    wanted = set(acknowledged)
    eventually(lambda: wanted <= tally(consumer), 90, "every acknowledged send delivered")
