from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from groundflare.contracts.names import file_part
from tests.stack import (
    REPO,
    WORKERS,
    RunningStack,
    advance_clock,
    run_steps,
    start_stack,
    step_error,
    step_ok,
)

# pytester runs real test files in a subprocess: the pytest plugin's own tests.
pytest_plugins = ["pytester"]

_names = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def isolated_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Secret keys go to the user config dir: keep every stack's in the test run's own folder."""
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))
    yield
    if previous is None:
        del os.environ["XDG_CONFIG_HOME"]
    else:
        os.environ["XDG_CONFIG_HOME"] = previous


@pytest.fixture(scope="module")
def d1_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack running the D1 probe Worker, shared by a test module."""
    stack = start_stack([WORKERS / "d1" / "wrangler.toml"], tmp_path_factory.mktemp("d1") / "data")
    yield stack
    assert stack.stop() == 0


@pytest.fixture
def stacks() -> Iterator[Callable[..., RunningStack]]:
    """Start stacks in a test; any still running at teardown is stopped, pass or fail."""
    started: list[RunningStack] = []

    def start(configs: list[Path], data_dir: Path, **options: Any) -> RunningStack:
        stack = start_stack(configs, data_dir, **options)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.process.poll() is None:
            stack.stop()


@pytest.fixture
def table() -> str:
    """A table name no other test uses, so tests can share one database."""
    return f"t{next(_names)}"


@pytest.fixture
def tmp_data(tmp_path: Path) -> Path:
    return tmp_path / "data"


KV_PROBE_NAMESPACE = "0f2ac74b498b48028cb68387c421e279"


class KvProbe:
    """Drives the KV probe Worker (tests/workers/kv): KV calls in, what the API returned out."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack

    def run(self, *steps: dict[str, Any]) -> list[dict[str, Any]]:
        return run_steps(self.stack, *steps)

    def ok(self, op: str, **step: Any) -> Any:
        return step_ok(self.stack, {"op": op, **step})

    def error(self, op: str, **step: Any) -> str:
        """The message of the error the Worker caught."""
        return step_error(self.stack, {"op": op, **step})

    def put(self, key: str, value: Any, **options: Any) -> None:
        assert self.ok("put", key=key, value=value, options=options) is None

    def get(self, key: str | list[str], options: Any = None) -> Any:
        return self.ok("get", **_key_step(key), options=options)

    def meta(self, key: str | list[str], options: Any = None) -> Any:
        return self.ok("getWithMetadata", **_key_step(key), options=options)

    def list(self, **options: Any) -> dict[str, Any]:
        return self.ok("list", options=options)

    def advance_clock(self, seconds: float) -> float:
        return advance_clock(self.stack, seconds)


def _key_step(key: str | list[str]) -> dict[str, Any]:
    return {"keys": key} if isinstance(key, list) else {"key": key}


@pytest.fixture(scope="module")
def kv_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack running the KV probe Worker, with a movable clock, shared by a test module."""
    data_dir = tmp_path_factory.mktemp("kv") / "data"
    stack = start_stack(
        [WORKERS / "kv" / "wrangler.toml"], data_dir, env={"GROUNDFLARE_TEST_CLOCK": "1"}
    )
    yield stack
    assert stack.stop() == 0


@pytest.fixture
def kv_dir(kv_stack: RunningStack) -> Path:
    """The probe namespace's folder (its id is in tests/workers/kv/wrangler.toml)."""
    return kv_stack.data_dir / "kv" / file_part(KV_PROBE_NAMESPACE)


@pytest.fixture
def kv(kv_stack: RunningStack) -> KvProbe:
    return KvProbe(kv_stack)


@pytest.fixture
def ns() -> str:
    """A key prefix no other test uses, so tests can share one namespace."""
    return f"t{next(_names)}/"


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """A stand-in sandbox (tests/fixtures/upstream.py) on a loopback port: HOST:PORT."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.upstream"], stdout=subprocess.PIPE, cwd=REPO
    )
    assert process.stdout is not None
    port = json.loads(process.stdout.readline())["port"]
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(10)
