"""The stack's internal door: the supervisor, the shim and test harnesses call scheduled(),
queue() and fetch() on a Worker through it; nothing else can (token, private socket)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime

import pytest

from groundflare.contracts.door import DoorAddress, QueueMessage
from groundflare.contracts.layout import DataDir
from groundflare.shim.door import Door, DoorError
from tests.stack import WORKERS, next_event, request

PROBE = WORKERS / "door" / "wrangler.toml"


@pytest.fixture
def door(tmp_data, stacks):
    stacks([PROBE], tmp_data)
    return Door.of(DataDir(root=tmp_data))


async def seen(door: Door, what: str) -> object:
    status, _, body = await door.fetch("door-probe", "GET", f"/seen/{what}")
    assert status == 200
    return json.loads(body)


async def test_scheduled_runs_with_the_cron_and_time_given(door):
    when = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)
    assert (await door.scheduled("door-probe", "*/5 * * * *", when)).outcome == "ok"
    assert await seen(door, "scheduled") == {
        "cron": "*/5 * * * *",
        "scheduledTime": int(when.timestamp() * 1000),
    }


async def test_a_queue_batch_reports_each_messages_fate(door):
    now = int(datetime.now(UTC).timestamp() * 1000)
    messages = [
        QueueMessage(id="m1", timestamp=now, body={"n": 1}),
        QueueMessage(id="m2", timestamp=now, body="two", attempts=2),
    ]
    result = await door.queue("door-probe", "jobs", messages)
    assert (result.outcome, result.explicitAcks) == ("ok", ["m1"])
    assert [m["msgId"] for m in result.retryMessages] == ["m2"]
    assert await seen(door, "queue") == {"queue": "jobs", "bodies": [{"n": 1}, "two"]}


async def test_fetch_reaches_the_worker_with_its_path_and_query(door):
    status, _, body = await door.fetch("door-probe", "POST", "/a/b?c=d")
    assert status == 200
    assert json.loads(body) == {"path": "/a/b", "search": "?c=d", "method": "POST"}


async def test_the_door_refuses_a_wrong_token_and_an_unknown_worker(door):
    forged = Door(DoorAddress(socket=door.address.socket, token="x" * 43))
    status, _, body = await forged.request("GET", "/workers/door-probe/fetch/")
    assert (status, json.loads(body)) == (403, {"error": "missing or invalid door token"})
    with pytest.raises(DoorError, match="no Worker named nope in this stack"):
        await door.scheduled("nope", "* * * * *")


async def test_the_door_is_private_to_the_user_and_gone_after_a_stop(tmp_data, stacks):
    stack = stacks([PROBE], tmp_data)
    data = DataDir(root=tmp_data)
    assert stat.S_IMODE(data.door_socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.door_json.stat().st_mode) == 0o600
    runtime = json.loads(data.runtime_json.read_text())
    assert runtime["endpoints"]["door"] == f"unix:{data.door_socket}"
    assert request(stack.url + "/x")[0] == 200
    assert stack.stop() == 0
    assert not data.door_socket.exists() and not data.door_json.exists()
    with pytest.raises(DoorError, match="no stack is running"):
        Door.of(data)


async def test_the_door_survives_a_workerd_restart(tmp_data, stacks):
    stack = stacks([PROBE], tmp_data)
    data = DataDir(root=tmp_data)
    os.kill(json.loads(data.runtime_json.read_text())["components"]["workerd"]["pid"], 9)
    assert next_event(stack)["event"] == "restarted"
    assert (await Door.of(data).scheduled("door-probe", "0 * * * *")).outcome == "ok"
