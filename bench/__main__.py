"""`python -m bench [--only SECTION ...]`: groundflare and Miniflare side by side on the same
Workers (D1, KV, R2, Durable Objects, queues, the Cache API, cold start), the sandbox proxy
against a direct connection (to a stand-in upstream, then to the sandbox in the microVM:
bench/proxy_vm.py), then the microVM's boot time and memory (bench/vm.py), and the sidecar
bundle's size and spawn -> ready against a venv (bench/sidecar.py).

Each section starts its own backends on a fresh temp dir and measures them interleaved;
stdout gets one table per section as it finishes and, at the end, one JSON summary line per
section; stderr gets the progress.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.backend import progress
from bench.report import SectionReport

SECTIONS = (
    "d1",
    "kv",
    "r2",
    "do",
    "queues",
    "cache",
    "traces",
    "api",
    "cold-start",
    "testing",
    "proxy",
    "proxy-vm",
    "vm",
    "sidecar",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--reps", type=int, default=5, help="timed requests per scenario")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run this section (repeatable; default: all of them, in this order: "
        + ", ".join(SECTIONS)
        + ")",
    )
    parser.add_argument("--boots", type=int, default=5, help="cold starts and VM boots to measure")
    return parser.parse_args()


def section_runner(name: str, args: argparse.Namespace) -> Callable[[Path], SectionReport]:
    """The section's entry point; imported late so `--only d1` never imports the VM code."""
    if name == "d1":
        from bench import d1

        return lambda work: d1.run(args.reps, work)
    if name == "kv":
        from bench import kv

        return lambda work: kv.run(args.reps, work)
    if name == "r2":
        from bench import r2

        return lambda work: r2.run(args.reps, work)
    if name == "do":
        from bench import durable_objects

        return lambda work: durable_objects.run(args.reps, work)
    if name == "queues":
        from bench import queues

        return lambda work: queues.run(args.reps, work)
    if name == "cache":
        from bench import cache

        return lambda work: cache.run(args.reps, work)
    if name == "api":
        from bench import api

        return lambda work: api.run(args.reps, work)
    if name == "traces":
        from bench import traces

        return lambda work: traces.run(args.reps, work)
    if name == "cold-start":
        from bench import cold_start

        return lambda work: cold_start.run(args.boots, work)
    if name == "testing":
        from bench import testing

        return lambda work: testing.run(args.reps, work)
    if name == "proxy":
        from bench import proxy

        return lambda work: proxy.run(args.reps, work)
    if name == "proxy-vm":
        from bench import proxy_vm

        return lambda work: proxy_vm.run(args.reps, work)
    if name == "sidecar":
        from bench import sidecar

        return lambda work: sidecar.run(args.boots, work)
    from bench import vm

    return lambda work: vm.run(args.boots, work)


def main() -> None:
    args = parse_args()
    chosen = [name for name in SECTIONS if args.only is None or name in args.only]
    summaries: list[str] = []
    try:
        for name in chosen:
            progress(f"=== section {name}")
            with tempfile.TemporaryDirectory(prefix=f"groundflare-bench-{name}-") as tmp:
                section = section_runner(name, args)(Path(tmp))
            print(f"\n## {section.title}\n\n{section.table}", flush=True)
            summaries.append(section.summary)
    finally:
        if summaries:
            print()
        for line in summaries:
            print(line, flush=True)


if __name__ == "__main__":
    main()
