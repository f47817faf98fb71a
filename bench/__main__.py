"""`python -m bench [--only d1|vm]`: D1 on groundflare and Miniflare side by side, then the
microVM's boot time and memory (bench/vm.py).

Both D1 backends run for the whole benchmark on fresh temp data dirs and are measured
interleaved; stdout gets the tables and one JSON summary line per section, stderr the progress.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import d1, report
from bench.backend import Backend, log_tail, progress, start_groundflare
from bench.client import Client
from bench.miniflare import installed_version, start_miniflare
from bench.worker import D1_WORKER, WorkerConfig

GROUNDFLARE = "groundflare"
MINIFLARE = "miniflare"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--reps", type=int, default=5, help="timed requests per scenario")
    parser.add_argument(
        "--only", choices=("d1", "vm"), help="run one section (default: all of them)"
    )
    parser.add_argument("--boots", type=int, default=5, help="VM boots to measure")
    return parser.parse_args()


def client_for(stack: ExitStack, backend: Backend) -> Client:
    """Register the backend's stop and its connection's close; hand back the client."""
    stack.callback(backend.stop)
    client = Client(backend.url)
    stack.callback(client.close)
    return client


def measure(reps: int, work_dir: Path) -> list[dict[str, d1.Result]]:
    """Start both backends, run every scenario, stop both (also on failure)."""
    config = WorkerConfig.load(D1_WORKER)
    backends: list[Backend] = []
    with ExitStack() as stack:
        try:
            backends.append(start_groundflare(config.wrangler_toml, work_dir))
            clients = {GROUNDFLARE: client_for(stack, backends[-1])}
            backends.append(start_miniflare(config, work_dir))
            clients[MINIFLARE] = client_for(stack, backends[-1])
            return d1.run_all(clients, reps)
        except Exception:
            # The logs live in the temp dir, which is gone once we return.
            for backend in backends:
                progress(
                    f"{backend.name} log ({backend.log_path.name}):\n{log_tail(backend.log_path)}"
                )
            raise
        finally:
            progress("stopping backends")


def main() -> None:
    args = parse_args()
    if args.only in (None, "d1"):
        run_d1(args)
    if args.only in (None, "vm"):
        from bench import vm

        vm.run(args.boots)


def run_d1(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="groundflare-bench-") as tmp:
        rows = measure(args.reps, Path(tmp))
    for results in rows:
        if not report.checksums_agree(results):
            progress(f"WARNING {results[GROUNDFLARE].scenario.name}: checksums differ")
    print(report.table(rows, GROUNDFLARE, MINIFLARE))
    meta = {"reps": args.reps, "miniflare_version": installed_version()}
    print(report.summary(rows, GROUNDFLARE, MINIFLARE, meta), flush=True)


if __name__ == "__main__":
    main()
