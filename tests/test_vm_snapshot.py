"""Boots restored from a snapshot of the booted guest are re-keyed, each its own: a fresh
token, a reseeded RNG, the current time, and nothing of any boot in the saved state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from groundflare.contracts.sandbox import SandboxAddress
from groundflare.profile import Installation
from groundflare.vm import default_cache
from groundflare.vm.resources import VmResources
from tests.stack import REPO, RunningStack, request, start_stack
from tests.vm_support import ReferenceApi, booted_vm, vm_image

EXAMPLE = REPO / "examples" / "controlplane" / "wrangler.toml"
pytestmark = pytest.mark.slow
RESTORED = "sandbox VM restored from its snapshot"
SAVED = "snapshot saved"


@dataclass
class Boot:
    """What one run of the stack saw of its guest."""

    token: str
    random: str
    clock_skew: float
    log: str


def one_boot(data_dir: Path) -> Boot:
    stack: RunningStack = start_stack([EXAMPLE], data_dir)
    try:
        address = SandboxAddress.model_validate_json(
            (data_dir / "run" / "sandbox.json").read_text()
        )
        api = ReferenceApi(address.url, dict([address.credential()]))
        # Read at once: before the guest's own reseeding (every minute or so) could differ.
        code, out, err = api.sh(
            "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; date +%s"
        )
        assert code == 0, err
        random, clock = out.splitlines()
        return Boot(address.token, random, abs(int(clock) - time.time()), stack.stderr())
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def boots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Boot]]:
    vm_image()
    data_dir = tmp_path_factory.mktemp("snapshots") / "data"
    install = Installation(data_dir)
    data_dir.mkdir(parents=True)
    install.save(install.create().model_copy(update={"vm": VmResources(enabled=True)}))
    # The first run restores or, on a machine that has none yet, takes the snapshot.
    yield [one_boot(data_dir) for _ in range(3)]


def test_later_boots_restore_the_snapshot(boots: list[Boot]) -> None:
    assert RESTORED in boots[1].log and RESTORED in boots[2].log
    assert SAVED in boots[0].log or RESTORED in boots[0].log


def test_every_boot_has_its_own_token(boots: list[Boot]) -> None:
    assert len({boot.token for boot in boots}) == 3


def test_every_boot_has_its_own_random_numbers(boots: list[Boot]) -> None:
    assert all(len(boot.random) == 64 for boot in boots)
    assert len({boot.random for boot in boots}) == 3


def test_a_restored_guest_has_the_current_time(boots: list[Boot]) -> None:
    assert all(boot.clock_skew < 10 for boot in boots)


def test_the_snapshot_holds_no_token(boots: list[Boot]) -> None:
    states = list((default_cache() / "snapshots").glob("*/state"))
    assert states
    for state in states:
        data = state.read_bytes()
        assert not any(boot.token.encode() in data for boot in boots)


def test_two_guests_restored_from_one_snapshot_differ_from_the_start(tmp_path: Path) -> None:
    """Side by side, restored from the same bytes: their first random bytes still differ."""
    script = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'"
    with booted_vm(tmp_path / "a") as one, booted_vm(tmp_path / "b") as two:
        assert one.vm.report is not None and one.vm.report.restored
        assert two.vm.report is not None and two.vm.report.restored
        assert one.sh(script)[1] != two.sh(script)[1]
        assert request(f"{one.url}/health", headers={"X-Groundflare-Sandbox": two.token})[0] == 401
