"""A stand-in for a desktop shell (Tauri, Electron) that runs groundflare as its sidecar.

It starts the sidecar the way tauri-plugin-shell's `Command::new_sidecar(...).spawn()` does:
the executable itself, no shell, stdin/stdout/stderr piped, the host's environment. Then,
as an app must:

- it reads stdout line by line and waits for the `ready` event, with a timeout (a sidecar
  that never gets ready is killed and reported);
- stderr is for people: it is drained and passed on, never parsed;
- after `ready` it "connects" (checks the health route) and reports the URL; on `restarted`
  it reconnects (the ports and the surface token outlive a component's restart);
- `fatal` or the sidecar's exit end the host with the sidecar's exit code;
- when the host exits it closes the sidecar's stdin (a clean stop: the sidecar was started
  with --exit-on-stdin-eof, the default of a bundle), waits, and kills it if need be.

If the host dies without any of that (SIGKILL, a crash), the OS closes its end of the pipe
and the sidecar stops by itself: the same stdin EOF.

Usage: python host.py SIDECAR [--ready-timeout S] [--run-seconds S] -- [serve options...]
Everything the host reports goes to its stdout as JSON lines ({"host": "ready", ...}).
No dependency beyond Python's standard library.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

STOP_GRACE_SECONDS = 10.0


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


class Sidecar:
    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._pass_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                report(host="warning", reason="a stdout line that is not JSON", line=line.decode())
        self.events.put(None)  # the sidecar closed stdout: it is exiting

    def _pass_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            sys.stderr.write(f"[sidecar] {line.decode(errors='replace')}")
            sys.stderr.flush()

    def next_event(self, timeout: float | None) -> dict[str, Any] | None:
        return self.events.get(timeout=timeout)

    def stop(self) -> int:
        """What the app does on exit: close stdin, wait, then kill."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            return self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def connect(ready: dict[str, Any]) -> bool:
    """What the app's first request would be: the health route of the REST listener, else
    the first Worker."""
    url = f"{ready['api']}/_groundflare/health" if ready.get("api") else ready["url"]
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return bool(response.status < 500)
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    sidecar = Sidecar([args.sidecar, "serve", *args.serve_args])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        try:
            ready = sidecar.next_event(args.ready_timeout)
        except queue.Empty:
            report(host="not-ready", timeout=args.ready_timeout)
            sidecar.process.kill()
            return 1
        if ready is None or ready.get("event") != "ready":
            report(host="failed", event=ready, code=sidecar.process.wait())
            return 1
        report(
            host="ready",
            url=ready["url"],
            sidecar_pid=sidecar.process.pid,
            data_dir=ready["data_dir"],
            connected=connect(ready),
        )
        deadline = None if args.run_seconds is None else time.monotonic() + args.run_seconds
        while deadline is None or time.monotonic() < deadline:
            try:
                event = sidecar.next_event(timeout=0.5)
            except queue.Empty:
                continue
            if event is None:
                report(host="sidecar-exited", code=sidecar.process.wait())
                return 1
            if event.get("event") == "restarted":
                report(host="reconnected", component=event["component"], connected=connect(ready))
            elif event.get("event") in ("fatal", "stopped"):
                report(host="sidecar-ended", event=event, code=sidecar.process.wait())
                return 1
        return 0
    finally:
        if sidecar.process.poll() is None:
            report(host="stopped-sidecar", code=sidecar.stop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sidecar", help="the bundle's executable (DIR/groundflare)")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--run-seconds", type=float, help="exit after this long (default: never)")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.serve_args = argv[split + 1 :]
    sys.exit(run(args))


if __name__ == "__main__":
    main()
