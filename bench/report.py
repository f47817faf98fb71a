"""The results as a table for people and as one JSON line for closing notes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.backend import progress
from bench.latency import Result

UNIT_LABEL = {"us": "µs", "ms": "ms"}


def checksums_agree(results: dict[str, Result]) -> bool:
    """Every request on every backend returned the same checksum: same work, same answers."""
    return len(set().union(*(result.checksums for result in results.values()))) == 1


def ratio(results: dict[str, Result], numerator: str, denominator: str) -> float:
    return results[numerator].per_call / results[denominator].per_call


def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    """'met' or 'MISSED': a ratio against the issue's target for it."""
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "MISSED"


def table(
    rows: Sequence[dict[str, Result]], first: str, second: str, controls: Sequence[str] = ()
) -> str:
    """A pipe table: scenario | first per call | second per call | first/second [| target];
    each control backend adds its per call and its ratio to `second`."""
    with_targets = any(results[first].scenario.target is not None for results in rows)
    header = ["scenario", f"{first} per call", f"{second} per call"]
    header += [f"{control} per call" for control in controls]
    header.append(f"ratio ({first}/{second})")
    header += [f"ratio ({control}/{second})" for control in controls]
    if with_targets:
        header.append("target")
    body = []
    for results in rows:
        scenario = results[first].scenario
        unit = UNIT_LABEL[scenario.unit]
        value = ratio(results, first, second)
        row = [f"{scenario.name} (n={scenario.n}: {scenario.what})"]
        row += [f"{results[name].per_call:,.1f} {unit}" for name in (first, second, *controls)]
        row.append(f"{value:.2f}")
        row += [f"{ratio(results, control, second):.2f}" for control in controls]
        if with_targets:
            target = scenario.target
            row.append("" if target is None else f"<= {target:.2f} {verdict(value, target)}")
        body.append(row)
    footer = f"ratio < 1: {first} is faster; medians of the timed requests per scenario"
    return pipe_table(header, body) + "\n" + footer


def pipe_table(header: list[str], body: Sequence[list[str]]) -> str:
    """Columns padded to their widest cell; the first left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [_line(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [_line(row, widths) for row in body]
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int]) -> str:
    padded = [
        cell.ljust(w) if i == 0 else cell.rjust(w)
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
    ]
    return "| " + " | ".join(padded) + " |"


def scenario_summary(
    results: dict[str, Result], first: str, second: str, controls: Sequence[str] = ()
) -> dict[str, Any]:
    """One scenario's per-call medians, ratios, target and whether the answers matched."""
    scenario = results[first].scenario
    value = ratio(results, first, second)
    out: dict[str, Any] = {"n": scenario.n, "unit": scenario.unit}
    for name in (first, second, *controls):
        out[name] = round(results[name].per_call, 2)
    out["ratio"] = round(value, 3)
    for control in controls:
        out[f"ratio_{control}"] = round(ratio(results, control, second), 3)
    out["checksums_agree"] = checksums_agree(results)
    if scenario.target is not None:
        out["target_ratio_max"] = scenario.target
        out["target_met"] = value <= scenario.target
    return out


def summary(
    rows: Sequence[dict[str, Result]],
    first: str,
    second: str,
    meta: dict[str, Any],
    bench: str = "d1",
    controls: Sequence[str] = (),
) -> str:
    """One JSON line: per-call medians, ratios and whether the answers matched."""
    scenarios = {
        results[first].scenario.name: scenario_summary(results, first, second, controls)
        for results in rows
    }
    return json.dumps({"bench": bench, **meta, "scenarios": scenarios}, ensure_ascii=False)


@dataclass(frozen=True)
class SectionReport:
    """What a section hands back: its table for people, its one JSON line for the end."""

    title: str
    table: str
    summary: str


def warn_mismatches(rows: Sequence[dict[str, Result]], first: str) -> None:
    """Say so on stderr when the backends' answers differed: then they did not do the same work."""
    for results in rows:
        if not checksums_agree(results):
            progress(f"WARNING {results[first].scenario.name}: checksums differ")
