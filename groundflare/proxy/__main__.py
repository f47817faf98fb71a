"""`python -m groundflare.proxy`: serve on an inherited listening socket until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import socket
import sys

from groundflare.contracts.control import ListenEvent
from groundflare.contracts.host import on_stop_signals
from groundflare.contracts.proxy import SANDBOX_HEADER, ProxySecrets, parse_host_port
from groundflare.contracts.secrets_pipe import read_secrets
from groundflare.proxy.auth import Gate
from groundflare.proxy.cors import Cors
from groundflare.proxy.front import Front, Proxy
from groundflare.proxy.limits import Limits
from groundflare.proxy.local import Door
from groundflare.proxy.upstream import Pool

log = logging.getLogger("proxy")

# glibc mallopt parameters, and how much freed heap to keep rather than hand back.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEPT_HEAP = 8 << 20


def keep_freed_memory() -> None:
    """Stop glibc from returning the heap's top to the kernel after every large free.

    Every socket read and every parsed body chunk is a fresh 256 KiB bytes object. With
    glibc's dynamic thresholds, freeing one trims the heap and the next read faults the
    pages back in, zeroed: 1.3 s of CPU per GiB relayed instead of 0.4, and a third of
    the throughput.
    """
    if sys.platform != "linux":
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:  # glibc and musl; a fixed mmap threshold ends the adjusting
        mallopt(M_MMAP_THRESHOLD, KEPT_HEAP)
        mallopt(M_TRIM_THRESHOLD, KEPT_HEAP)


def parse_upstream(value: str) -> tuple[str, int]:
    try:
        return parse_host_port(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


async def serve(args: argparse.Namespace, surface: str, sandbox: str) -> None:
    host, port = args.upstream
    proxy = Proxy(
        door=Door(Gate(surface), Cors(args.cors_origin)),
        pool=Pool(host, port),
        host=f"{host}:{port}".encode() if ":" not in host else f"[{host}]:{port}".encode(),
        sandbox_credential=(
            args.sandbox_header.encode(),
            (f"{args.sandbox_scheme} {sandbox}" if args.sandbox_scheme else sandbox).encode(),
        ),
        limits=args.limits,
    )
    loop = asyncio.get_running_loop()
    listener = socket.socket(fileno=args.listen_fd)
    listener.setblocking(False)
    server = await loop.create_server(lambda: Front(proxy), sock=listener)
    proxy.start()
    if args.control_fd is not None:
        os.write(args.control_fd, ListenEvent(socket="sandbox").model_dump_json().encode() + b"\n")
        os.close(args.control_fd)
    log.info("forwarding to %s:%d", host, port)
    stop = asyncio.Event()
    on_stop_signals(loop, stop.set)
    await stop.wait()
    server.close()
    proxy.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m groundflare.proxy")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument(
        "--upstream", type=parse_upstream, required=True, help="HOST:PORT of the sandbox"
    )
    parser.add_argument("--cors-origin", action="append", default=[])
    parser.add_argument(
        "--sandbox-header", default=SANDBOX_HEADER, help="the header the sandbox checks"
    )
    parser.add_argument("--sandbox-scheme", help="the auth scheme before the token, e.g. Bearer")
    parser.add_argument("--control-fd", type=int)
    parser.add_argument(
        "--secrets-fd", type=int, required=True, help="a pipe holding the tokens as JSON"
    )
    # Tests only: lowered limits (groundflare/proxy/limits.py), as a JSON object.
    parser.add_argument(
        "--limits", type=Limits.model_validate_json, default=Limits(), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        tokens = ProxySecrets.model_validate(read_secrets(args.secrets_fd))
    except (OSError, ValueError) as exc:
        sys.exit(f"proxy: cannot read the tokens from --secrets-fd: {exc}")
    surface, sandbox = tokens.surface_token, tokens.sandbox_token
    keep_freed_memory()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args, surface, sandbox))
    else:
        uvloop.run(serve(args, surface, sandbox))


if __name__ == "__main__":
    main()
