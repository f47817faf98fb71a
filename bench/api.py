"""Your data from outside the Worker (issue 12): the real wrangler against groundflare's v4
API beside wrangler's own local mode, and boto3 on R2's S3 API.

- `wrangler d1 execute --remote --command` against groundflare versus `wrangler d1 execute
  --local --command` (Miniflare in wrangler) on the same database contents: wall time per
  command, spawn to exit (both are mostly Node starting wrangler).
- Importing a 50 MB SQL file: `wrangler d1 execute --remote --file` (groundflare's import
  flow), `wrangler d1 execute --local --file`, and `groundflare d1 import`: seconds each.
- boto3 on the S3 API: a 1 GiB file up (upload_file: multipart) and down (download_file:
  ranged gets), MB/s, the shim's CPU seconds for each, and its peak RSS while they ran.

wrangler comes from tests/clients (`make test-clients`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import report
from bench.backend import progress
from bench.proc import cpu_seconds, peak_mb, reset_peak
from groundflare.testing import start_stack

REPO = Path(__file__).resolve().parent.parent
WRANGLER = REPO / "tests" / "clients" / "node_modules" / ".bin" / "wrangler"
DATABASE_ID = "00000000-0000-4000-8000-0000000000be"
ROWS_PER_MB = 4_700
GIB = 1 << 30

PROJECT = f"""
name = "bench-api"
main = "worker.js"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "bench"
database_id = "{DATABASE_ID}"

[[r2_buckets]]
binding = "BUCKET"
bucket_name = "bench"
"""
WORKER = 'export default { fetch() { return new Response("ok"); } };\n'
SEED = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);\n" + "".join(
    f"INSERT INTO items (name, price) VALUES ('item {i}', {i * 1.5});\n" for i in range(1000)
)
QUERY = "SELECT count(*) AS n, sum(price) AS total FROM items WHERE id % 7 = 0"


def big_sql(path: Path, megabytes: int) -> int:
    """A dump-like file: one table, ~200-byte INSERTs; returns its size in bytes."""
    padding = "x" * 150
    with path.open("w") as out:
        out.write("CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT, n INTEGER);\n")
        for i in range(megabytes * ROWS_PER_MB):
            out.write(f"INSERT INTO big (id, label, n) VALUES ({i}, '{padding}{i}', {i * 3});\n")
    return path.stat().st_size


class WranglerFailed(RuntimeError):
    def __init__(self, seconds: float, error: str, detail: str) -> None:
        super().__init__(detail)
        self.seconds = seconds
        self.error = re.sub(r"\x1b\[[0-9;]*m", "", error).replace("✘ [ERROR] ", "").strip()


def wrangler(project: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(WRANGLER), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1800,
        env={
            **os.environ,
            **env,
            "HOME": str(project / "home"),
            "WRANGLER_SEND_METRICS": "false",
            "CI": "true",
            "NO_COLOR": "1",
        },
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if "ERROR" in line]
        raise WranglerFailed(
            seconds,
            errors[-1] if errors else done.stdout[-200:],
            f"wrangler {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}",
        )
    return seconds, done.stdout


def create_database(env: dict[str, str], name: str) -> None:
    """A fresh database through the v4 API (wrangler then finds it by name)."""
    url = f"{env['CLOUDFLARE_API_BASE_URL']}/accounts/{env['CLOUDFLARE_ACCOUNT_ID']}/d1/database"
    request = urllib.request.Request(
        url,
        data=json.dumps({"name": name}).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {env['CLOUDFLARE_API_TOKEN']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def groundflare(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "groundflare", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def stack_env(data_dir: Path) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "groundflare", "env", "--json", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def one_gib_file(path: Path) -> str:
    """A 1 GiB file of a repeating pattern; its MD5."""
    block = bytes(range(256)) * 4096
    md5 = hashlib.md5()
    with path.open("wb") as out:
        for _ in range(GIB // len(block)):
            out.write(block)
            md5.update(block)
    return md5.hexdigest()


def file_md5(path: Path) -> str:
    md5 = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            md5.update(chunk)
    return md5.hexdigest()


def s3_throughput(env: dict[str, str], shim_pid: int, work: Path) -> dict[str, float]:
    """boto3's upload_file and download_file (multipart both ways, 10 threads) of 1 GiB."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="auto",
    )
    source, back = work / "one-gib.bin", work / "one-gib-back.bin"
    digest = one_gib_file(source)
    reset_peak(shim_pid)
    before = peak_mb(shim_pid)
    cpu = cpu_seconds(shim_pid)
    started = time.perf_counter()
    s3.upload_file(str(source), "bench", "one-gib")
    put_seconds = time.perf_counter() - started
    put_cpu = cpu_seconds(shim_pid) - cpu
    cpu = cpu_seconds(shim_pid)
    started = time.perf_counter()
    s3.download_file("bench", "one-gib", str(back))
    get_seconds = time.perf_counter() - started
    get_cpu = cpu_seconds(shim_pid) - cpu
    if file_md5(back) != digest:
        raise RuntimeError("the 1 GiB object came back different")
    return {
        "put_mb_s": GIB / 1e6 / put_seconds,
        "get_mb_s": GIB / 1e6 / get_seconds,
        "put_shim_cpu_s": put_cpu,
        "get_shim_cpu_s": get_cpu,
        "shim_peak_rss_mb_before": before,
        "shim_peak_rss_mb": peak_mb(shim_pid),
    }


def run(reps: int, work: Path) -> report.SectionReport:
    if not WRANGLER.exists():
        raise RuntimeError("wrangler is not installed: run `make test-clients`")
    project = work / "project"
    (project / "home").mkdir(parents=True)
    (project / "wrangler.toml").write_text(PROJECT)
    (project / "worker.js").write_text(WORKER)
    (project / "seed.sql").write_text(SEED)
    data_dir = work / "data"
    stack = start_stack([project / "wrangler.toml"], data_dir)
    try:
        env = stack_env(data_dir)
        progress("seeding the same rows into groundflare's database and wrangler's local one")
        wrangler(project, env, "d1", "execute", "bench", "--remote", "--file", "seed.sql")
        wrangler(project, env, "d1", "execute", "bench", "--local", "--file", "seed.sql")
        times: dict[str, list[float]] = {"remote": [], "local": []}
        answers = set()
        for index in range(reps):
            for mode in ("remote", "local") if index % 2 == 0 else ("local", "remote"):
                seconds, out = wrangler(
                    project,
                    env,
                    "d1",
                    "execute",
                    "bench",
                    f"--{mode}",
                    "--command",
                    QUERY,
                    "--json",
                )
                times[mode].append(seconds)
                answers.add(json.dumps(json.loads(out)[0]["results"]))
        progress("making a 50 MB SQL file")
        size = big_sql(work / "big.sql", 50)
        imports: dict[str, str] = {}
        for name in ("wrangler-remote", "groundflare-import"):
            create_database(env, name)
        progress(
            "importing it: wrangler --remote (groundflare), groundflare d1 import, wrangler --local"
        )
        remote_seconds, _ = wrangler(
            project,
            env,
            "d1",
            "execute",
            "wrangler-remote",
            "--remote",
            "--file",
            str(work / "big.sql"),
        )
        imports["wrangler --remote --file (groundflare)"] = f"{remote_seconds:.1f}"
        imported = groundflare(
            "d1", "import", "groundflare-import", str(work / "big.sql"), "--data-dir", str(data_dir)
        )
        imports["groundflare d1 import (running stack)"] = f"{imported:.1f}"
        try:
            seconds, _ = wrangler(
                project, env, "d1", "execute", "bench", "--local", "--file", str(work / "big.sql")
            )
            imports["wrangler --local --file (Miniflare)"] = f"{seconds:.1f}"
        except WranglerFailed as exc:
            # wrangler's local mode runs the whole file as one db.batch() in Miniflare.
            imports["wrangler --local --file (Miniflare)"] = (
                f"failed after {exc.seconds:.1f} s: {exc.error}"
            )
        progress("boto3: 1 GiB up and down through the S3 API")
        shim_pid = int(
            json.loads((data_dir / "run" / "runtime.json").read_text())["components"]["shim"]["pid"]
        )
        s3 = s3_throughput(env, shim_pid, work)
    finally:
        stack.stop()
    remote, local = statistics.median(times["remote"]), statistics.median(times["local"])
    rows = [
        [
            f"d1 execute --command (median of {reps}, seconds)",
            f"{remote:.2f}",
            f"{local:.2f}",
            f"{remote / local:.2f}",
        ],
    ]
    table = report.pipe_table(
        ["scenario", "wrangler --remote (groundflare)", "wrangler --local (Miniflare)", "ratio"],
        rows,
    )
    table += "\n\n" + report.pipe_table(
        [f"import of a {size / 1e6:.0f} MB SQL file", "seconds"],
        [[name, seconds] for name, seconds in imports.items()],
    )
    table += "\n\n" + report.pipe_table(
        ["boto3, 1 GiB through the S3 API", "value"],
        [
            [
                "put (upload_file, multipart)",
                f"{s3['put_mb_s']:.0f} MB/s, shim CPU {s3['put_shim_cpu_s']:.1f} s",
            ],
            [
                "get (download_file, ranged)",
                f"{s3['get_mb_s']:.0f} MB/s, shim CPU {s3['get_shim_cpu_s']:.1f} s",
            ],
            [
                "shim peak RSS during both",
                f"{s3['shim_peak_rss_mb']:.0f} MB (before: {s3['shim_peak_rss_mb_before']:.0f} MB)",
            ],
        ],
    )
    summary = json.dumps(
        {
            "bench": "api",
            "wrangler_remote_command_s": round(remote, 3),
            "wrangler_local_command_s": round(local, 3),
            "answers_agree": len(answers) == 1,
            "import_mb": round(size / 1e6, 1),
            "imports_s": imports,
            "s3": {k: round(v, 1) for k, v in s3.items()},
        }
    )
    return report.SectionReport("v4 API and S3 API (wrangler, boto3)", table, summary)
