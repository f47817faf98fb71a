"""`python -m shim --config run/shim.json [--control-fd N]`: the storage service process.

The per-boot token and the REST API token arrive over a pipe (`--secrets-fd`),
never in argv or the environment. Readiness is one JSON line on the control fd
once the socket serves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from contracts.secrets_pipe import read_secrets
from contracts.shim_config import ShimConfig, ShimSecrets
from shim.api import Api
from shim.app import Shim
from shim.server import serve_socket, serve_unix

log = logging.getLogger("shim")


async def serve(
    config: ShimConfig, token: str, control_fd: int | None, api: tuple[int, str] | None
) -> None:
    shim = Shim(config, token)
    await shim.open()
    config.socket.unlink(missing_ok=True)
    server = await serve_unix(shim.dispatch, str(config.socket))
    config.socket.chmod(0o600)
    if api is not None:
        api_fd, api_token = api
        listener = socket.socket(fileno=api_fd)
        await serve_socket(Api(api_token, config.runtime_json).dispatch, listener)
    log.info("listening on %s (%d resources)", config.socket, len(config.resources))
    if control_fd is not None:
        os.write(control_fd, b'{"event":"listen","socket":"shim"}\n')
        os.close(control_fd)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await shim.close()
    config.socket.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shim")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--control-fd", type=int)
    parser.add_argument("--api-fd", type=int, help="a listening TCP socket for the REST API")
    parser.add_argument(
        "--secrets-fd", type=int, required=True, help="a pipe holding the tokens as JSON"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        secrets = ShimSecrets.model_validate(read_secrets(args.secrets_fd))
    except (OSError, ValueError) as exc:
        sys.exit(f"shim: cannot read the tokens from --secrets-fd: {exc}")
    token = secrets.token
    api = (args.api_fd, secrets.api_token) if args.api_fd is not None else None
    config = ShimConfig.model_validate_json(args.config.read_bytes())
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config, token, args.control_fd, api))
    else:
        uvloop.run(serve(config, token, args.control_fd, api))


if __name__ == "__main__":
    main()
