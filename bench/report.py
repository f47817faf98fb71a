"""The results as a table for people and as one JSON line for closing notes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bench.d1 import Result

UNIT_LABEL = {"us": "µs", "ms": "ms"}


def checksums_agree(results: dict[str, Result]) -> bool:
    """Every request on every backend returned the same checksum: same work, same answers."""
    return len(set().union(*(result.checksums for result in results.values()))) == 1


def ratio(results: dict[str, Result], numerator: str, denominator: str) -> float:
    return results[numerator].per_call / results[denominator].per_call


def table(rows: Sequence[dict[str, Result]], first: str, second: str) -> str:
    """A pipe table: scenario | first per call | second per call | first/second."""
    header = ["scenario", f"{first} per call", f"{second} per call", f"ratio ({first}/{second})"]
    body = []
    for results in rows:
        scenario = results[first].scenario
        unit = UNIT_LABEL[scenario.unit]
        body.append(
            [
                f"{scenario.name} (n={scenario.n}: {scenario.what})",
                f"{results[first].per_call:,.1f} {unit}",
                f"{results[second].per_call:,.1f} {unit}",
                f"{ratio(results, first, second):.2f}",
            ]
        )
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [_line(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [_line(row, widths) for row in body]
    lines.append(f"ratio < 1: {first} is faster; medians of the timed requests per scenario")
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int]) -> str:
    padded = [
        cell.ljust(w) if i == 0 else cell.rjust(w)
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
    ]
    return "| " + " | ".join(padded) + " |"


def summary(
    rows: Sequence[dict[str, Result]], first: str, second: str, meta: dict[str, Any]
) -> str:
    """One JSON line: per-call medians, ratios and whether the answers matched."""
    scenarios = {}
    for results in rows:
        scenario = results[first].scenario
        scenarios[scenario.name] = {
            "n": scenario.n,
            "unit": scenario.unit,
            first: round(results[first].per_call, 2),
            second: round(results[second].per_call, 2),
            "ratio": round(ratio(results, first, second), 3),
            "checksums_agree": checksums_agree(results),
        }
    return json.dumps({"bench": "d1", **meta, "scenarios": scenarios}, ensure_ascii=False)
