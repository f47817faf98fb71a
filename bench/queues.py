"""Queues (issue 10): send -> consumer latency of one message at a time, and the throughput of
1,000 messages sent in batches of 100, on the same Worker (bench/workers/queues/).

The consumer posts each batch's ids to an HTTP sink in this process (a fetch() to a local
service, on both backends), which notes when each arrived: latency is from the moment the
send request leaves here to that arrival, so it holds the send, the queue's own delay before
a batch goes out (max_batch_timeout = 0 on both), the delivery and the fetch back.
groundflare commits each send to disk before answering; Miniflare keeps messages in memory.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import report
from bench.backend import progress
from bench.client import Client
from bench.miniflare import installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, side_by_side
from bench.worker import QUEUES_WORKER

LATENCY_MESSAGES = 40
BURST = 1000
WAIT_SECONDS = 60.0


class Sink:
    """Arrival times (perf_counter) of the ids the consumers post."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.changed = threading.Condition()

    def note(self, ids: list[str]) -> None:
        now = time.perf_counter()
        with self.changed:
            for ident in ids:
                self.arrived.setdefault(ident, now)
            self.changed.notify_all()

    def wait(self, ids: list[str]) -> float:
        """When the last of `ids` arrived."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self.changed:
            while not all(i in self.arrived for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [i for i in ids if i not in self.arrived]
                    raise RuntimeError(
                        f"queues: {len(missing)} messages never arrived, e.g. {missing[0]}"
                    )
                self.changed.wait(left)
            return max(self.arrived[i] for i in ids)


@contextmanager
def serving(sink: Sink) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sink.note(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    # Consumers post batches at once: a backlog of 5 (http.server's default) refuses some.
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def worker_copy(work_dir: Path, sink_url: str) -> Path:
    """The benchmark Worker with SINK pointing at this run's sink."""
    folder = work_dir / "queues-worker"
    shutil.copytree(QUEUES_WORKER.parent, folder)
    config = folder / "wrangler.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('SINK = "http://127.0.0.1:9/"', f'SINK = "{sink_url}"'))
    return config


def latency(client: Client, sink: Sink, tag: str) -> float:
    """One message: from its send request to its arrival at the sink, in seconds."""
    started = time.perf_counter()
    client.timed_get(f"/send?id={tag}")
    return sink.wait([tag]) - started


def throughput(client: Client, sink: Sink, tag: str) -> float:
    """Messages per second for BURST messages, from the first send to the last arrival."""
    started = time.perf_counter()
    client.timed_get(f"/burst?n={BURST}&prefix={tag}")
    last = sink.wait([f"{tag}-{i}" for i in range(BURST)])
    return BURST / (last - started)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    sink = Sink()
    lat: dict[str, list[float]] = {GROUNDFLARE: [], MINIFLARE: []}
    rates: dict[str, list[float]] = {GROUNDFLARE: [], MINIFLARE: []}
    with serving(sink) as url, side_by_side(worker_copy(work_dir, url), work_dir) as pair:
        names = list(pair.clients)
        for name in names:  # warm-up
            latency(pair.clients[name], sink, f"{name}-warm")
        for i in range(LATENCY_MESSAGES):
            for name in names if i % 2 == 0 else names[::-1]:
                lat[name].append(latency(pair.clients[name], sink, f"{name}-lat-{i}"))
        progress(f"queues: latency {LATENCY_MESSAGES} messages each done")
        for rep in range(reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                rates[name].append(throughput(pair.clients[name], sink, f"{name}-burst-{rep}"))
            progress(f"queues: burst rep {rep + 1}/{reps}")
    return _report(lat, rates, reps)


def _report(
    lat: dict[str, list[float]], rates: dict[str, list[float]], reps: int
) -> report.SectionReport:
    median = {name: statistics.median(values) * 1e3 for name, values in lat.items()}
    p90 = {name: statistics.quantiles(values, n=10)[-1] * 1e3 for name, values in lat.items()}
    rate = {name: statistics.median(values) for name, values in rates.items()}
    g, m = GROUNDFLARE, MINIFLARE
    body = [
        [
            f"send -> consumer, median of {LATENCY_MESSAGES}",
            f"{median[g]:.1f} ms",
            f"{median[m]:.1f} ms",
            f"{median[g] / median[m]:.2f}",
        ],
        [
            f"send -> consumer, p90 of {LATENCY_MESSAGES}",
            f"{p90[g]:.1f} ms",
            f"{p90[m]:.1f} ms",
            f"{p90[g] / p90[m]:.2f}",
        ],
        [
            f"throughput, {BURST} messages (median of {reps})",
            f"{rate[g]:,.0f} msg/s",
            f"{rate[m]:,.0f} msg/s",
            f"{rate[g] / rate[m]:.2f}",
        ],
    ]
    header = ["scenario", g, m, f"ratio ({g}/{m})"]
    footer = (
        "latency ratio < 1: groundflare is faster; throughput ratio > 1: groundflare is faster. "
        "groundflare's sends are on disk before they are acknowledged; Miniflare's in memory"
    )
    summary = {
        "bench": "queues",
        "reps": reps,
        "miniflare_version": installed_version(),
        "latency_ms": {"median": median, "p90": p90},
        "throughput_msgs_per_s": rate,
    }
    return report.SectionReport(
        "Queues (issue 10)",
        report.pipe_table(header, body) + "\n" + footer,
        json.dumps(summary),
    )
