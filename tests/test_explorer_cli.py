"""`groundflare explorer` on a data dir whose stack is stopped: it serves the data itself."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.explorer import EXPLORER_COMMAND, PROBE, PROBE_KV, Browser
from tests.stack import request


def test_a_stopped_data_dir_is_served_until_interrupted(tmp_path: Path, stacks: Any) -> None:
    data = tmp_path / "data"
    stack = stacks([PROBE], data)
    assert request(f"{stack.url}/hello?name=kept")[0] == 200
    assert stack.stop() == 0
    process = subprocess.Popen(
        [*EXPLORER_COMMAND, "--print-url", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        link = process.stdout.readline().strip()
        assert "/explorer/login?ticket=" in link, process.stderr.read() if process.stderr else ""
        visitor = Browser(link.split("/explorer/")[0])
        assert visitor.open(link)[0] == 303
        status, _, page = visitor.open(f"/explorer/kv/{PROBE_KV}")
        assert status == 200
        status, _, page = visitor.open("/explorer/log")
        assert status == 200 and b"/hello?name=kept" in page
        # No Worker runs: the cron page cannot run a trigger.
        status, _, page = visitor.open("/explorer/cron")
        assert status == 200 and b"Run now" not in page
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    # The data dir is free again: a stack starts on it.
    assert stacks([PROBE], data).ready["event"] == "ready"
