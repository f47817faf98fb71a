"""Helpers for tests of the v4 API, wrangler, the SDKs and the data CLI against a stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.stack import REPO, WORKERS, RunningStack, post_json

CLIENTS = REPO / "tests" / "clients"
WRANGLER = CLIENTS / "node_modules" / ".bin" / "wrangler"
# The probe Workers, one per kind, in one stack: each binds one resource.
PROBES = [
    WORKERS / "d1" / "wrangler.toml",
    WORKERS / "kv" / "wrangler.toml",
    WORKERS / "r2" / "wrangler.toml",
]
D1_PROBE_ID = "00000000-0000-4000-8000-000000000001"
KV_PROBE_ID = "0f2ac74b498b48028cb68387c421e279"
R2_PROBE_BUCKET = "probe"


def groundflare(
    *args: str, env: dict[str, str] | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groundflare", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        input=None if input is None else input.decode(),
    )


def stack_env(data_dir: Path) -> dict[str, str]:
    """`groundflare env --json`: what points clients at the stack."""
    done = groundflare("env", "--json", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def probe(stack: RunningStack, worker: str, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    """Run steps in one probe Worker (d1-probe, kv-probe, r2-probe): what its binding saw."""
    return post_json(stack.ready["workers"][worker], list(steps))


def probe_ok(stack: RunningStack, worker: str, step: dict[str, Any]) -> Any:
    (result,) = probe(stack, worker, step)
    assert "ok" in result, result
    return result["ok"]


def wrangler(
    *args: str, env: dict[str, str], cwd: Path, home: Path
) -> subprocess.CompletedProcess[str]:
    """The real wrangler CLI (tests/clients, installed by `make test-clients`)."""
    assert WRANGLER.exists(), "wrangler is not installed: run `make test-clients`"
    return subprocess.run(
        [str(WRANGLER), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={
            **os.environ,
            **env,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "WRANGLER_SEND_METRICS": "false",
            "CI": "true",
            "NO_COLOR": "1",
        },
    )
