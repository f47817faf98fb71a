"""Miniflare, the comparison point: a node process running bench/miniflare_host.mjs.

The host prints one JSON line {"url": ...} when ready and stops when its stdin closes, so it
cannot outlive this process even if we are killed.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

from bench.backend import Backend, log_tail, progress
from bench.worker import BENCH_DIR, WorkerConfig

HOST_SCRIPT = BENCH_DIR / "miniflare_host.mjs"
PACKAGE = BENCH_DIR / "node_modules" / "miniflare" / "package.json"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def host_options(config: WorkerConfig, persist_dir: Path) -> dict[str, object]:
    """The Miniflare options that mirror what groundflare reads from wrangler.toml.

    Every binding kind persists to its own dir under `persist_dir`, as groundflare's data dir
    keeps them on disk: neither side gets to answer from memory alone.
    """
    options: dict[str, object] = {
        "scriptPath": str(config.script_path),
        "compatibilityDate": config.compatibility_date,
        "compatibilityFlags": list(config.compatibility_flags),
        "d1Databases": config.d1_databases,
        "d1Persist": str(persist_dir / "d1"),
    }
    if config.kv_namespaces:
        options["kvNamespaces"] = config.kv_namespaces
        options["kvPersist"] = str(persist_dir / "kv")
    if config.r2_buckets:
        options["r2Buckets"] = config.r2_buckets
        options["r2Persist"] = str(persist_dir / "r2")
    if not config.script_path.is_relative_to(BENCH_DIR):
        # A Worker copied elsewhere (queues: bench/queues.py): Miniflare names modules from
        # its working directory and refuses a path that climbs out of it.
        options["modulesRoot"] = str(config.script_path.parent)
    if config.vars:
        options["bindings"] = config.vars
    if config.queue_producers:
        options["queueProducers"] = {
            binding: {"queueName": queue} for binding, queue in config.queue_producers.items()
        }
    if config.queue_consumers:
        options["queueConsumers"] = {
            queue: {
                "maxBatchSize": settings.get("max_batch_size", 10),
                "maxBatchTimeout": settings.get("max_batch_timeout", 5),
                "maxRetries": settings.get("max_retries", 3),
            }
            for queue, settings in config.queue_consumers.items()
        }
    if config.durable_objects:
        options["durableObjects"] = {
            binding: {"className": do.class_name, "useSQLite": do.sqlite}
            for binding, do in config.durable_objects.items()
        }
        options["durableObjectsPersist"] = str(persist_dir / "do")
    return options


def bundled_workerd() -> Path:
    """The workerd binary Miniflare runs (npm's platform package next to it), so groundflare
    can be run on the very same build as a control."""
    found = sorted(BENCH_DIR.glob("node_modules/@cloudflare/workerd-*/bin/workerd"))
    if not found:
        raise SystemExit("bench: Miniflare's workerd is not installed; run `make bench`")
    return found[0]


def installed_version() -> str:
    """The installed Miniflare version; `make bench` installs it from bench/package.json."""
    if not PACKAGE.is_file():
        raise SystemExit("bench: Miniflare is not installed; run `make bench` (npm installs it)")
    return json.loads(PACKAGE.read_text(encoding="utf-8"))["version"]


def read_ready_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first stdout line, or b"" if the host exits or the timeout passes first."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        if readable:
            return process.stdout.readline()
    return b""


def stop_host(process: subprocess.Popen[bytes]) -> int:
    """Close stdin (the host awaits mf.dispose() and exits 0); SIGTERM, then kill, if it hangs."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    for escalate in (process.terminate, process.kill):
        try:
            return process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            escalate()
    return process.wait()


def start_miniflare(
    config: WorkerConfig,
    work_dir: Path,
    quiet: bool = False,
    name: str = "miniflare",
    workerd: Path | None = None,
) -> Backend:
    """Start the host with fresh persist dirs and wait for its ready line; on another workerd
    binary than its own when `workerd` is given (Miniflare's $MINIFLARE_WORKERD_PATH).

    `ready_seconds` is process spawn -> the ready line, which the host prints right after
    `await mf.ready`: Miniflare's cold start as its JS API users see it.
    """
    node = shutil.which("node")
    if node is None:
        raise SystemExit("bench: node is not on PATH; Miniflare needs Node.js")
    if not quiet:
        progress(f"starting miniflare {installed_version()} (node {HOST_SCRIPT.name})")
    persist_dir = work_dir / f"{name}-{config.name}"
    persist_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"{name}-{config.name}.log"
    env = {**os.environ, "MINIFLARE_WORKERD_PATH": str(workerd)} if workerd else None
    argv = [node, str(HOST_SCRIPT), json.dumps(host_options(config, persist_dir))]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            cwd=BENCH_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
    line = read_ready_line(process, START_TIMEOUT_SECONDS)
    elapsed = time.perf_counter() - started
    if not line:
        stop_host(process)
        raise SystemExit(f"bench: {name} failed to start:\n{log_tail(log_path)}")
    url = json.loads(line)["url"]
    if not quiet:
        progress(f"{name} ready at {url} in {elapsed:.2f} s")
    stop = lambda: stop_host(process)  # noqa: E731
    return Backend(name, url, log_path, stop, ready_seconds=elapsed, pid=process.pid)
