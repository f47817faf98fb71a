from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import WORKERS, RunningStack, start_stack

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
