"""R2 (issues 3, 11): 1 MiB put/get per call, a 256 MiB object the Worker reads whole
(`arrayBuffer()`), then one 1 GiB put and 1 GiB gets in MB/s, with the shim's peak RSS.

The 1 MiB calls and the 256 MiB read are also timed with each backend on the other's workerd
build (groundflare on Miniflare's, Miniflare on ours): `arrayBuffer()`'s cost moved with the
workerd release (docs/performance.md, "R2 gets"), and same-build ratios say what is
groundflare's own.

Same Worker (bench/workers/r2/) on both backends. The 1 GiB object is streamed by the Worker
(FixedLengthStream, never held) and moved once per backend per path, the order alternating;
it is read back three ways because workerd's default reader hands out 4 KiB chunks
(docs/r2.md): a BYOB reader, the default reader, and `new Response(obj.body)` read by this
client. The shim's peak RSS (VmHWM, reset before each phase) must stay under 150 MB: proof it
streams. Its CPU time per transfer shows where groundflare's time goes.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import latency, proc, report
from bench.backend import progress, workerd_version
from bench.client import Client
from bench.miniflare import bundled_workerd, installed_version
from bench.pair import GROUNDFLARE, MINIFLARE, Control, Pair, side_by_side
from bench.worker import R2_WORKER
from groundflare.native_tools import find_workerd

MIB = 1 << 20
BIG_SIZE = 1 << 30
SHIM_PEAK_LIMIT_MB = 150.0
THROUGHPUT_TARGET = 1.0  # groundflare/Miniflare MB/s, at least
MID_SIZE = 256 * MIB
MID_GETS = 7
MID_TARGET = 1.0  # groundflare/Miniflare seconds, at most (issue 11)
GF_ON_THEIRS = "gf@mf-workerd"
MF_ON_OURS = "mf@gf-workerd"

SMALL: tuple[latency.Scenario, ...] = (
    latency.Scenario("put", 100, "ms", "1 MiB put()"),
    latency.Scenario("get", 100, "ms", "1 MiB get() + arrayBuffer()"),
)


@dataclass(frozen=True)
class Route:
    """One way to move the 1 GiB object: the Worker route and how the client reads it."""

    name: str
    route: str
    what: str
    download: bool = False  # the body comes to the client (else a JSON answer)


BIG: tuple[Route, ...] = (
    Route("put", f"/bigput?size={BIG_SIZE}", "put(): FixedLengthStream fed 1 MiB writes"),
    Route("get-byob", "/bigget?mode=byob", "get(): BYOB reader, 1 MiB readAtLeast"),
    Route("get-default", "/bigget?mode=default", "get(): default reader (4 KiB chunks)"),
    Route("get-response", "/bigget?mode=response", "get(): new Response(body) to the client", True),
)


@dataclass
class Transfer:
    """One 1 GiB path's wall time on each backend, and CPU seconds spent on it by each
    process group (see `processes`)."""

    path: Route
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def mb_per_s(self, backend: str) -> float:
        return BIG_SIZE / self.seconds[backend] / proc.MB

    def ratio(self) -> float:
        return self.mb_per_s(GROUNDFLARE) / self.mb_per_s(MINIFLARE)


def run(reps: int, work_dir: Path) -> report.SectionReport:
    ours, theirs = find_workerd().path, bundled_workerd()
    controls = {
        GF_ON_THEIRS: Control(workerd=theirs),
        MF_ON_OURS: Control(workerd=ours, miniflare=True),
    }
    with side_by_side(R2_WORKER, work_dir, controls=controls) as pair:
        rows = latency.run_all(pair.clients, reps, SMALL)
        mid = mid_gets(pair.clients)
        two = {name: pair.clients[name] for name in (GROUNDFLARE, MINIFLARE)}
        transfers, peaks = big_transfers(pair, two)
    report.warn_mismatches(rows, GROUNDFLARE)
    mid_ratio = mid[GROUNDFLARE] / mid[MINIFLARE]
    same_build = {
        workerd_version(ours): mid[GROUNDFLARE] / mid[MF_ON_OURS],
        workerd_version(theirs): mid[GF_ON_THEIRS] / mid[MINIFLARE],
    }
    tables = [
        "1 MiB objects, per call:",
        report.table(rows, GROUNDFLARE, MINIFLARE, tuple(controls)),
        "",
        f"One 256 MiB object the Worker reads whole (`await object.arrayBuffer()`), median of "
        f"{MID_GETS}: {GROUNDFLARE} {mid[GROUNDFLARE] * 1000:.0f} ms, {MINIFLARE} "
        f"{mid[MINIFLARE] * 1000:.0f} ms, ratio ({GROUNDFLARE}/{MINIFLARE}) {mid_ratio:.2f} "
        f"(<= {MID_TARGET:.2f} {report.verdict(mid_ratio, MID_TARGET)}); both on one workerd "
        f"build: {GF_ON_THEIRS} {mid[GF_ON_THEIRS] * 1000:.0f} ms, {MF_ON_OURS} "
        f"{mid[MF_ON_OURS] * 1000:.0f} ms, ratio ({GROUNDFLARE}/{MINIFLARE}) "
        + ", ".join(f"{ratio:.2f} on {build}" for build, ratio in same_build.items()),
        "",
        "One 1 GiB object (MB = 10^6 bytes), once per backend per path:",
        big_table(transfers, peaks),
    ]
    meta = {
        "reps": reps,
        "miniflare_version": installed_version(),
        "mid_get_256mib": {
            "ms": {name: round(took * 1000, 1) for name, took in mid.items()},
            "ratio": round(mid_ratio, 3),
            "target_ratio_max": MID_TARGET,
            "target_met": mid_ratio <= MID_TARGET,
            "ratio_same_workerd": {build: round(ratio, 3) for build, ratio in same_build.items()},
        },
    }
    return report.SectionReport(
        "R2 (issue 3)", "\n".join(tables), summary(rows, transfers, peaks, meta, tuple(controls))
    )


def processes(pair: Pair) -> dict[str, dict[str, list[int]]]:
    """Whose CPU time each backend's transfers are charged with: groundflare's shim and
    workerd apart (where its time goes), Miniflare's node and workerd together."""
    groundflare = pair.backends[GROUNDFLARE]
    return {
        GROUNDFLARE: {
            "shim": [groundflare.component_pid("shim")],
            "workerd": [groundflare.component_pid("workerd")],
        },
        MINIFLARE: {"node+workerd": proc.descendants(pair.backends[MINIFLARE].pid or 0)},
    }


def mid_gets(clients: dict[str, Client]) -> dict[str, float]:
    """The median seconds of a 256 MiB get the Worker reads whole, per backend, interleaved."""
    names = list(clients)
    for client in clients.values():
        client.timed_get(f"/bigput?size={MID_SIZE}&key=mid")
    # Not the puts' writeback: the timed reads start with the written objects on disk, each
    # backend warmed by one read.
    os.sync()
    for client in clients.values():
        client.timed_get("/bigget?mode=arraybuffer&key=mid")
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(MID_GETS):
        for name in names if rep % 2 == 0 else names[::-1]:
            took, body = clients[name].timed_get("/bigget?mode=arraybuffer&key=mid")
            if body["checksum"] != MID_SIZE:
                raise RuntimeError(f"{name}: read {body['checksum']} of {MID_SIZE} bytes")
            seconds[name].append(took)
    progress(
        "256 MiB get, Worker reads it all: "
        + ", ".join(f"{name} {statistics.median(s) * 1000:.0f} ms" for name, s in seconds.items())
    )
    return {name: statistics.median(values) for name, values in seconds.items()}


def big_transfers(
    pair: Pair, clients: dict[str, Client]
) -> tuple[list[Transfer], dict[str, float]]:
    """The put, then each read path on `clients`; the shim's peak RSS for the put and for all
    the gets."""
    names = list(clients)
    charged = processes(pair)
    shim = charged[GROUNDFLARE]["shim"][0]
    transfers = []
    peaks: dict[str, float] = {"idle": proc.rss_mb(shim)}
    for index, path in enumerate(BIG):
        if index <= 1:
            proc.reset_peak(shim)
        transfer = Transfer(path)
        for name in names if index % 2 == 0 else names[::-1]:
            before = {group: proc.tree_cpu_seconds(p) for group, p in charged[name].items()}
            transfer.seconds[name] = timed(clients[name], path)
            for group, pids in charged[name].items():
                transfer.cpu[group] = proc.tree_cpu_seconds(pids) - before[group]
            progress(
                f"1 GiB {path.name}: {name} {transfer.seconds[name]:.2f} s "
                f"({transfer.mb_per_s(name):,.0f} MB/s)"
            )
        transfers.append(transfer)
        if index == 0:
            peaks["put"] = proc.peak_mb(shim)
    peaks["gets"] = proc.peak_mb(shim)
    return transfers, peaks


def timed(client: Client, path: Route) -> float:
    """The transfer's wall time; fails unless every byte of the object was moved."""
    moved: int
    if path.download:
        seconds, moved = client.timed_download(path.route)
    else:
        seconds, body = client.timed_get(path.route)
        moved = body["checksum"]
    if moved != BIG_SIZE:
        raise RuntimeError(f"{client.base_url}{path.route}: moved {moved} of {BIG_SIZE} bytes")
    return seconds


def big_table(transfers: list[Transfer], peaks: dict[str, float]) -> str:
    header = [
        "path",
        GROUNDFLARE,
        MINIFLARE,
        f"ratio ({GROUNDFLARE}/{MINIFLARE})",
        "target",
        f"CPU {GROUNDFLARE} (shim + workerd)",
        f"CPU {MINIFLARE} (node + workerd)",
    ]
    body = []
    for transfer in transfers:
        ratio = transfer.ratio()
        body.append(
            [
                f"{transfer.path.name} ({transfer.path.what})",
                f"{transfer.mb_per_s(GROUNDFLARE):,.0f} MB/s",
                f"{transfer.mb_per_s(MINIFLARE):,.0f} MB/s",
                f"{ratio:.2f}",
                f">= {THROUGHPUT_TARGET:.2f} {report.verdict(ratio, THROUGHPUT_TARGET, True)}",
                f"{transfer.cpu['shim']:.2f} + {transfer.cpu['workerd']:.2f} s",
                f"{transfer.cpu['node+workerd']:.2f} s",
            ]
        )
    for phase in ("put", "gets"):
        peak = peaks[phase]
        body.append(
            [
                f"shim peak RSS (VmHWM) during the 1 GiB {phase}",
                f"{peak:.0f} MB",
                "",
                "",
                f"< {SHIM_PEAK_LIMIT_MB:.0f} MB {report.verdict(peak, SHIM_PEAK_LIMIT_MB)}",
                "",
                "",
            ]
        )
    footer = (
        f"ratio > 1: {GROUNDFLARE} moves more per second; shim idle RSS {peaks['idle']:.0f} MB;"
        " CPU: user+system seconds during the transfer"
    )
    return report.pipe_table(header, body) + "\n" + footer


def summary(
    rows: list[dict[str, latency.Result]],
    transfers: list[Transfer],
    peaks: dict[str, float],
    meta: dict[str, Any],
    controls: tuple[str, ...],
) -> str:
    big: dict[str, Any] = {}
    for transfer in transfers:
        ratio = transfer.ratio()
        big[transfer.path.name] = {
            "bytes": BIG_SIZE,
            f"{GROUNDFLARE}_mb_s": round(transfer.mb_per_s(GROUNDFLARE), 1),
            f"{MINIFLARE}_mb_s": round(transfer.mb_per_s(MINIFLARE), 1),
            "ratio": round(ratio, 3),
            "target_ratio_min": THROUGHPUT_TARGET,
            "target_met": ratio >= THROUGHPUT_TARGET,
            "cpu_seconds": {group: round(cpu, 2) for group, cpu in transfer.cpu.items()},
        }
    small = {
        results[GROUNDFLARE].scenario.name: report.scenario_summary(
            results, GROUNDFLARE, MINIFLARE, controls
        )
        for results in rows
    }
    shim = {
        "idle_rss_mb": round(peaks["idle"], 1),
        "peak_mb_put": round(peaks["put"], 1),
        "peak_mb_gets": round(peaks["gets"], 1),
        "limit_mb": SHIM_PEAK_LIMIT_MB,
        "target_met": max(peaks["put"], peaks["gets"]) < SHIM_PEAK_LIMIT_MB,
    }
    body = {"bench": "r2", **meta, "small": small, "big": big, "shim_memory": shim}
    return json.dumps(body, ensure_ascii=False)
