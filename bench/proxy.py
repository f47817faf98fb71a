"""Sandbox proxy (issue 5): a 256 MiB body each way and small-request latency through
`groundflare serve --sandbox-upstream`, against a direct connection to the same upstream.

The upstream is the proxy tests' stand-in sandbox (tests/fixtures/upstream.py: /bytes?n=,
POST /sha256, /headers), one process serving both paths. No Miniflare here: it has no such
proxy. Paths alternate request by request, so both see the same machine. Targets: proxied
throughput >= 90% of direct, < 0.5 ms added per small request.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import proc, report
from bench.backend import log_tail, progress, start_groundflare
from bench.client import Client
from bench.worker import BENCH_DIR, STACK_WORKER
from groundflare.proxy import SURFACE_HEADER

REPO = BENCH_DIR.parent
BODY_BYTES = 256 << 20
SMALL_REQUESTS = 1000
THROUGHPUT_TARGET = 0.90  # proxied / direct, at least
ADDED_LATENCY_TARGET_MS = 0.5
DIRECT = "direct"
PROXIED = "proxied"


@dataclass
class Runs:
    """Seconds per request on each path; the proxy's CPU seconds over the proxied ones."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {DIRECT: [], PROXIED: []})
    proxy_cpu: float = 0.0

    def median(self, path: str) -> float:
        return statistics.median(self.seconds[path])

    def mb_per_s(self, path: str) -> float:
        return BODY_BYTES / self.median(path) / proc.MB


@contextmanager
def upstream(work_dir: Path) -> Iterator[str]:
    """The stand-in sandbox on a free port; yields HOST:PORT."""
    log_path = work_dir / "upstream.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.upstream"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"bench: the upstream did not start:\n{log_tail(log_path)}")
        yield f"127.0.0.1:{json.loads(line)['port']}"
    finally:
        process.terminate()
        process.wait(10)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    with upstream(work_dir) as address:
        backend = start_groundflare(STACK_WORKER, work_dir, ["--sandbox-upstream", address])
        clients = {
            DIRECT: Client(f"http://{address}"),
            PROXIED: Client(
                backend.ready["sandbox"], {SURFACE_HEADER: backend.ready["surface_token"]}
            ),
        }
        try:
            proxy_pid = backend.component_pid("proxy")
            download = measure(clients, reps, proxy_pid, "download", _download)
            upload = measure(clients, reps, proxy_pid, "upload", _upload)
            small = measure(clients, SMALL_REQUESTS, proxy_pid, "small", _small, quiet=True)
        except BaseException:
            progress(f"groundflare log:\n{log_tail(backend.log_path)}")
            raise
        finally:
            for client in clients.values():
                client.close()
            backend.stop()
    meta = {"reps": reps, "small_requests": SMALL_REQUESTS, "body_bytes": BODY_BYTES}
    return report.SectionReport(
        "Sandbox proxy (issue 5)",
        table(download, upload, small),
        summary(download, upload, small, meta),
    )


def _download(client: Client) -> float:
    seconds, received = client.timed_download(f"/bytes?n={BODY_BYTES}")
    if received != BODY_BYTES:
        raise RuntimeError(f"{client.base_url}: received {received} of {BODY_BYTES} bytes")
    return seconds


def _upload(client: Client) -> float:
    seconds, body = client.timed_upload("/sha256", BODY_BYTES)
    if body.get("size") != BODY_BYTES:
        raise RuntimeError(f"{client.base_url}: the upstream counted {body!r}")
    return seconds


def _small(client: Client) -> float:
    seconds, _ = client.timed_get("/headers")
    return seconds


def measure(
    clients: dict[str, Client],
    count: int,
    proxy_pid: int,
    what: str,
    request: Callable[[Client], float],
    quiet: bool = False,
) -> Runs:
    """One warm-up each, then `count` requests per path, alternating which goes first."""
    runs = Runs()
    for client in clients.values():
        request(client)
    for index in range(count):
        order = (DIRECT, PROXIED) if index % 2 == 0 else (PROXIED, DIRECT)
        for path in order:
            cpu = proc.cpu_seconds(proxy_pid) if path == PROXIED else 0.0
            runs.seconds[path].append(request(clients[path]))
            if path == PROXIED:
                runs.proxy_cpu += proc.cpu_seconds(proxy_pid) - cpu
        if not quiet:
            progress(
                f"proxy {what} {index + 1}/{count}: "
                + ", ".join(f"{p} {runs.seconds[p][-1]:.3f} s" for p in order)
            )
    if quiet:
        progress(
            f"proxy {what}: {count} each, medians "
            + ", ".join(f"{p} {runs.median(p) * 1e3:.3f} ms" for p in (DIRECT, PROXIED))
        )
    return runs


def table(download: Runs, upload: Runs, small: Runs) -> str:
    header = ["measure", DIRECT, PROXIED, f"{PROXIED}/{DIRECT}", "target", "proxy CPU"]
    body = []
    for name, runs in (("download", download), ("upload", upload)):
        ratio = runs.mb_per_s(PROXIED) / runs.mb_per_s(DIRECT)
        per_gib = runs.proxy_cpu / len(runs.seconds[PROXIED]) / (BODY_BYTES / (1 << 30))
        body.append(
            [
                f"{name} 256 MiB ({'GET /bytes' if name == 'download' else 'POST /sha256'})",
                f"{runs.mb_per_s(DIRECT):,.0f} MB/s",
                f"{runs.mb_per_s(PROXIED):,.0f} MB/s",
                f"{ratio:.2f}",
                f">= {THROUGHPUT_TARGET:.2f} {report.verdict(ratio, THROUGHPUT_TARGET, True)}",
                f"{per_gib:.2f} s/GiB",
            ]
        )
    added = added_ms(small)
    per_request = small.proxy_cpu / len(small.seconds[PROXIED]) * 1e6
    body.append(
        [
            "small request (GET /headers), median",
            f"{small.median(DIRECT) * 1e3:.3f} ms",
            f"{small.median(PROXIED) * 1e3:.3f} ms",
            f"+{added:.3f} ms",
            f"< {ADDED_LATENCY_TARGET_MS} ms {report.verdict(added, ADDED_LATENCY_TARGET_MS)}",
            f"{per_request:.0f} µs/req",
        ]
    )
    footer = (
        f"medians; MB = 10^6 bytes; {SMALL_REQUESTS} small requests per path on kept-alive"
        " connections; proxy CPU = the proxy process's user+system time per unit"
    )
    return report.pipe_table(header, body) + "\n" + footer


def added_ms(small: Runs) -> float:
    return (small.median(PROXIED) - small.median(DIRECT)) * 1e3


def summary(download: Runs, upload: Runs, small: Runs, meta: dict[str, object]) -> str:
    out: dict[str, object] = {"bench": "proxy", **meta}
    for name, runs in (("download", download), ("upload", upload)):
        ratio = runs.mb_per_s(PROXIED) / runs.mb_per_s(DIRECT)
        out[name] = {
            "direct_mb_s": round(runs.mb_per_s(DIRECT), 1),
            "proxied_mb_s": round(runs.mb_per_s(PROXIED), 1),
            "ratio": round(ratio, 3),
            "target_ratio_min": THROUGHPUT_TARGET,
            "target_met": ratio >= THROUGHPUT_TARGET,
        }
    added = added_ms(small)
    out["small"] = {
        "direct_ms": round(small.median(DIRECT) * 1e3, 4),
        "proxied_ms": round(small.median(PROXIED) * 1e3, 4),
        "added_ms": round(added, 4),
        "target_added_ms_max": ADDED_LATENCY_TARGET_MS,
        "target_met": added < ADDED_LATENCY_TARGET_MS,
    }
    return json.dumps(out)
