"""The stacks a pytest session runs: started once per set of configs, seeded once per seed,
restored before each test (docs/testing.md)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundflare.bindings.stack import Stack
from groundflare.testing.clients import WorkerClient, Workers
from groundflare.testing.logs import TestLogs
from groundflare.testing.process import RunningStack, StackFailed, start_stack

Seed = Callable[["TestStack"], Any]
# The stacks run with the movable clock; their secrets stay in the session's own folder,
# never in the user's keyring or config dir.
SERVE_ENV = {
    "GROUNDFLARE_TEST_CLOCK": "1",
    "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
}


# Each stack as it started: every seed begins from it.
EMPTY = "pytest-empty"


@dataclass(frozen=True)
class StackKey:
    configs: tuple[Path, ...]
    env: str | None = None


class TestStack(Stack):
    """A stack started for a test session: its Workers' URLs and clients, its bindings
    (groundflare.bindings.Stack), its logs."""

    __test__ = False

    def __init__(self, running: RunningStack, started_ms: float) -> None:
        super().__init__(running.data_dir)
        self.running = running
        self.ready = running.ready
        # From spawning serve to its ready line.
        self.started_ms = started_ms
        self.clients = Workers(self.ready["workers"])
        self.logs = TestLogs(self)

    @property
    def workers(self) -> dict[str, str]:
        return dict(self.ready["workers"])

    @property
    def api(self) -> str | None:
        """The REST listener (the Cloudflare v4 API)."""
        return self.ready.get("api")

    def worker(self, name: str | None = None) -> WorkerClient:
        """A client bound to the Worker `name` (default: the first)."""
        return self.clients[name or next(iter(self.clients))]

    @property
    def client(self) -> WorkerClient:
        return self.worker()

    def close(self) -> None:
        self.clients.close()
        super().close()


class SessionStacks:
    """Every stack of one pytest process (an xdist worker has its own), in a short private
    temporary folder: each stack's data dir, and the config dir its secrets' keys go to."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._stacks: dict[StackKey, TestStack] = {}
        self._failed: dict[StackKey, StackFailed] = {}
        self._seeded: dict[tuple[StackKey, Hashable], str] = {}
        self._names = itertools.count()

    def _folder(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="gf-"))
        return self._root

    def stack(self, key: StackKey) -> TestStack:
        """The stack of `key`, started on first use."""
        if key in self._failed:  # once is enough: every test after it would wait again
            raise self._failed[key]
        if key not in self._stacks:
            n = next(self._names)
            root = self._folder()
            extra = ["--no-vm"] + (["--env", key.env] if key.env else [])
            env = {**SERVE_ENV, "XDG_CONFIG_HOME": str(root / "config")}
            began = time.perf_counter()
            try:
                running = start_stack(list(key.configs), root / f"s{n}", extra=extra, env=env)
            except StackFailed as exc:
                self._failed[key] = exc
                raise
            started = (time.perf_counter() - began) * 1000
            self._stacks[key] = TestStack(running, started)
            self._stacks[key].snapshot(EMPTY)
        return self._stacks[key]

    def snapshot(self, key: StackKey, seed_id: Hashable, seed: Callable[[], Any]) -> str:
        """The snapshot to restore before each test using this stack and seed: `seed()` runs
        once, on the fresh stack, and the snapshot is taken right after it."""
        if (key, seed_id) not in self._seeded:
            stack = self.stack(key)
            name = f"pytest-{next(self._names)}"
            stack.restore(EMPTY)
            seed()
            stack.snapshot(name)
            self._seeded[(key, seed_id)] = name
        return self._seeded[(key, seed_id)]

    def close(self) -> None:
        for stack in self._stacks.values():
            stack.close()
            stack.running.stop()
        self._stacks.clear()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
