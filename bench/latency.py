"""Per-call latency scenarios and the interleaved measuring loop every binding section shares.

Each request makes `n` sequential binding calls inside the Worker, so the per-call latency is
the request's wall time divided by `n`; the one HTTP round trip per request is amortised away.
Backends are interleaved within every scenario (alternating which goes first), so drift on the
machine (thermal, other load) hits both sides alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.backend import progress
from bench.client import Client


@dataclass(frozen=True)
class Scenario:
    """One Worker route, how many binding calls a request makes, and the unit per call."""

    name: str
    n: int
    unit: str  # "us" or "ms"
    what: str
    # The highest groundflare/Miniflare ratio the issue accepts, if it sets one.
    target: float | None = None
    # Timed requests per backend when not --reps: many short requests ride out bursts of
    # other load on a shared machine better than a few long ones.
    reps: int | None = None

    @property
    def path(self) -> str:
        return f"/{self.name}?n={self.n}"

    @property
    def scale(self) -> float:
        """Seconds -> the reporting unit."""
        return 1e6 if self.unit == "us" else 1e3


@dataclass
class Result:
    """Request wall times of one scenario on one backend, and the checksums it returned."""

    scenario: Scenario
    backend: str
    seconds: list[float] = field(default_factory=list)
    checksums: set[object] = field(default_factory=set)

    @property
    def per_call(self) -> float:
        """Median request time divided by the calls in it, in the scenario's unit."""
        return statistics.median(self.seconds) / self.scenario.n * self.scenario.scale


def setup(clients: dict[str, Client], path: str = "/setup") -> None:
    """Seed every backend (idempotent on the Worker side)."""
    for name, client in clients.items():
        seconds, body = client.timed_get(path)
        progress(f"{name}: {path} -> checksum {body['checksum']} in {seconds * 1e3:.0f} ms")


def measure(scenario: Scenario, clients: dict[str, Client], reps: int) -> dict[str, Result]:
    """One warm-up request per backend, then `reps` timed requests each (or the scenario's
    own count), interleaved."""
    reps = scenario.reps or reps
    results = {name: Result(scenario, name) for name in clients}
    names = list(clients)
    progress(f"{scenario.name}: warm-up ({scenario.path})")
    for name in names:
        clients[name].timed_get(scenario.path)
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            seconds, body = clients[name].timed_get(scenario.path)
            if body.get("n") != scenario.n:
                raise RuntimeError(f"{name}{scenario.path}: answered n={body.get('n')!r}")
            results[name].seconds.append(seconds)
            results[name].checksums.add(body["checksum"])
        progress(f"{scenario.name}: rep {rep + 1}/{reps} " + _rep_line(results, rep))
    return results


def pooled(runs: Sequence[dict[str, Result]]) -> dict[str, Result]:
    """Several measurements of one scenario, each on backends of its own, as one: all their
    timed requests together, per backend name."""
    merged: dict[str, Result] = {}
    for run in runs:
        for name, result in run.items():
            into = merged.setdefault(name, Result(result.scenario, name))
            into.seconds.extend(result.seconds)
            into.checksums |= result.checksums
    return merged


def _rep_line(results: dict[str, Result], rep: int) -> str:
    return ", ".join(f"{name} {result.seconds[rep]:.3f} s" for name, result in results.items())


def run_all(
    clients: dict[str, Client], reps: int, scenarios: Sequence[Scenario]
) -> list[dict[str, Result]]:
    """Every scenario in turn; one dict (backend -> Result) per scenario."""
    return [measure(scenario, clients, reps) for scenario in scenarios]
