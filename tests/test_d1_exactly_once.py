"""A D1 write acknowledged once is in the database exactly once, under load and hang-ups.

Clients insert rows with unique tags through the D1 probe Worker while other
clients keep the database's thread busy with slow writes (so queries move
between the inline path and the thread) and hang up before the answer.
Afterwards every acknowledged tag is there exactly once, no tag at all is there
twice, and the steady clients' rows equal their acknowledgements.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections import Counter

from tests.d1 import ok
from tests.stack import RunningStack

WRITERS = 6
WRITES_PER_WRITER = 250
# Long enough to overrun the inline budget and queue on the database's thread.
SLOW_INSERT = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
    "INSERT INTO ballast SELECT i FROM n"
)


def post(url: str, steps: list[dict[str, object]], timeout: float) -> list[dict[str, object]]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", "/", body=json.dumps(steps))
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        conn.close()


class Writer(threading.Thread):
    """Inserts tagged rows; every `hang_up_every`th request hangs up before the answer."""

    def __init__(self, url: str, number: int, hang_up_every: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.number = number
        self.hang_up_every = hang_up_every
        self.acknowledged: list[str] = []
        self.errors: list[object] = []

    def run(self) -> None:
        for index in range(WRITES_PER_WRITER):
            tag = f"w{self.number}-{index}"
            steps: list[dict[str, object]] = [
                {"op": "run", "sql": "INSERT INTO tagged (tag) VALUES (?)", "params": [tag]}
            ]
            hang_up = self.hang_up_every and index % self.hang_up_every == 0
            if hang_up:
                steps.insert(0, {"op": "run", "sql": SLOW_INSERT})
            try:
                results = post(self.url, steps, timeout=0.01 if hang_up else 60)
            except (TimeoutError, OSError):
                continue
            result = results[-1]
            if "ok" in result:
                self.acknowledged.append(tag)
            else:
                self.errors.append(result)


def test_every_acknowledged_insert_is_applied_exactly_once(d1_stack: RunningStack) -> None:
    ok(d1_stack, {"op": "exec", "sql": "CREATE TABLE tagged (tag TEXT)"})
    ok(d1_stack, {"op": "exec", "sql": "CREATE TABLE ballast (i INTEGER)"})
    writers = [Writer(d1_stack.url, n, hang_up_every=0 if n % 2 else 5) for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(300)
    assert not any(writer.errors for writer in writers), [w.errors[:3] for w in writers]
    rows = ok(d1_stack, {"op": "all", "sql": "SELECT tag FROM tagged"})["results"]
    counts = Counter(row["tag"] for row in rows)
    acknowledged = [tag for writer in writers for tag in writer.acknowledged]
    steady = [w for w in writers if not w.hang_up_every]
    steady_rows = sum(count for tag, count in counts.items() if int(tag[1:].split("-")[0]) % 2)
    steady_acks = sum(len(w.acknowledged) for w in steady)
    print(
        f"rows {len(rows)}, acknowledged {len(acknowledged)}; steady: {steady_rows} = {steady_acks}"
    )
    assert [tag for tag, count in counts.items() if count > 1] == []
    assert [tag for tag in acknowledged if counts[tag] != 1] == []
    assert steady_rows == steady_acks == len(steady) * WRITES_PER_WRITER
