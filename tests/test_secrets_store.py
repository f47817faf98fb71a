"""The Secrets Store: `[[secrets_store_secrets]]` bindings read secrets that
`groundflare secrets-store` keeps encrypted with the install's key; a change is seen at the
next get(), and they survive restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.stack import WORKERS, RunningStack, request

PROBE = WORKERS / "secrets-store" / "wrangler.toml"


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "groundflare",
        "secrets-store",
        *args,
        "--data-dir",
        str(data_dir),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, input=stdin)


def get(stack: RunningStack, binding: str = "API_KEY") -> Any:
    status, body = request(f"{stack.url}/?binding={binding}")
    assert status == 200, body
    return json.loads(body)


def test_a_secret_put_by_the_cli_is_what_get_returns_and_a_change_is_seen_at_once(tmp_data, stacks):
    stack = stacks([PROBE], tmp_data)
    assert cli(tmp_data, "put", "store-1", "api-key", stdin="s3cret-1\n").returncode == 0
    assert get(stack) == {"ok": "s3cret-1"}
    assert cli(tmp_data, "put", "store-1", "api-key", "--value", "s3cret-2").returncode == 0
    assert get(stack) == {"ok": "s3cret-2"}
    listed = cli(tmp_data, "list", "store-1")
    assert listed.stdout.startswith("api-key  created ")
    assert "s3cret" not in listed.stdout


def test_a_missing_secret_throws_productions_error(tmp_data, stacks):
    stack = stacks([PROBE], tmp_data)
    assert get(stack, "MISSING") == {
        "error": {"name": "Error", "message": 'Secret "never-set" not found'}
    }


def test_values_are_encrypted_on_disk_and_survive_a_restart(tmp_data, stacks):
    first = stacks([PROBE], tmp_data)
    cli(tmp_data, "put", "store-1", "api-key", "--value", "plain-words-nobody-sees")
    assert first.stop() == 0
    for path in (tmp_data / "secrets-store").iterdir():
        assert b"plain-words-nobody-sees" not in path.read_bytes()
    second = stacks([PROBE], tmp_data)
    assert get(second) == {"ok": "plain-words-nobody-sees"}
    assert cli(tmp_data, "delete", "store-1", "api-key").returncode == 0
    assert get(second)["error"]["message"] == 'Secret "api-key" not found'
