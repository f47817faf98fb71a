"""`python -m shim --config run/shim.json [--control-fd N]`: the storage service process.

The per-boot token and the REST API token arrive over a pipe (`--secrets-fd`),
never in argv or the environment. Readiness is one JSON line on the control fd
once the socket serves.

`GROUNDFLARE_TEST_API_TIMEOUT=SECONDS` (tests only, read here, not passed on by
`groundflare serve`) shortens the REST listener's head, idle and stall timeouts.

What a stack may never use loads on first use, not before readiness: the shim's start is on
the stack's cold-start path. The REST listener's API (every kind's v4 routes, R2's S3 API and
the explorer) is built on its first request, and the queue dispatcher is imported where it
starts, after readiness.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import socket
import sys
from functools import cache
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING

from groundflare.contracts.control import ListenEvent, RefusedEvent
from groundflare.contracts.door import DoorAddress
from groundflare.contracts.host import on_stop_signals, raise_open_file_limit, try_lock
from groundflare.contracts.layout import DataDir
from groundflare.contracts.secrets_pipe import read_secrets
from groundflare.contracts.shim_config import ShimConfig, ShimSecrets
from groundflare.shim.api import API_LIMITS, Api, local_hosts
from groundflare.shim.app import Refusal, Shim
from groundflare.shim.clock import Clock
from groundflare.shim.cron import CronScheduler
from groundflare.shim.door import Door
from groundflare.shim.explorer.auth import Sessions
from groundflare.shim.messages import Handler, Request, Response
from groundflare.shim.server import Limits, serve_socket, serve_unix

if TYPE_CHECKING:
    from groundflare.shim.explorer.app import Explorer
    from groundflare.shim.queues.dispatch import QueueDispatcher
    from groundflare.shim.r2.s3.sigv4 import Credentials

log = logging.getLogger("shim")

TEST_API_TIMEOUT_ENV = "GROUNDFLARE_TEST_API_TIMEOUT"
# How often a reload's new shim looks whether the old one has let go of the deliveries.
DELIVERIES_LOCK_POLL_SECONDS = 0.05


def api_limits_from_env() -> Limits:
    """The REST listener's limits, with shorter timeouts when a test asks for them."""
    seconds = os.environ.get(TEST_API_TIMEOUT_ENV)
    if seconds is None:
        return API_LIMITS
    timeout = float(seconds)
    return dataclasses.replace(
        API_LIMITS, head_timeout=timeout, idle_timeout=timeout, stall_timeout=timeout
    )


def s3_credentials(secrets: ShimSecrets) -> Credentials:
    """R2's S3 API signs with the install's pair; a random one (no client knows it) when the
    supervisor sent none."""
    from groundflare.shim.r2.s3.sigv4 import Credentials

    if secrets.s3_access_key_id and secrets.s3_secret_access_key:
        return Credentials(secrets.s3_access_key_id, secrets.s3_secret_access_key)
    return Credentials(token_urlsafe(32), token_urlsafe(32))


def explorer_for(config: ShimConfig, shim: Shim, door: Door | None, sessions: Sessions) -> Explorer:
    """The explorer on the REST listener (docs/explorer.md); its tickets come from the shim's
    socket, where only this user's `groundflare explorer` reaches."""
    from groundflare.shim.explorer.app import Explorer
    from groundflare.shim.explorer.web import Stack

    workers = [w.name for w in config.traces.workers] if config.traces is not None else []
    workers += [t.worker for t in config.crons if t.worker not in workers]
    stack = Stack(
        config.data_dir, workers, config.crons, shim.traces, door, shim.routes, config.d1_migrations
    )
    return Explorer(sessions, shim.tickets, stack)


def rest_api(
    config: ShimConfig,
    secrets: ShimSecrets,
    shim: Shim,
    door: Door | None,
    address: tuple[str, int],
) -> Handler:
    """The REST listener's dispatcher: the API it serves is built on its first request."""

    @cache
    def api() -> Api:
        from groundflare.shim.r2.s3.service import S3

        host, port = address
        return Api(
            secrets.api_token,
            config.runtime_json,
            local_hosts(host, port),
            resources=shim.resources,
            routes=shim.routes,
            fallback=S3(shim.resources, s3_credentials(secrets)).handle,
            explorer=explorer_for(config, shim, door, Sessions(secrets.api_token, port)),
        )

    async def dispatch(request: Request) -> Response:
        return await api().dispatch(request)

    return dispatch


def cron_triggers(config: ShimConfig, door: Door | None, clock: Clock) -> CronScheduler | None:
    """The Workers' cron triggers, fired through the door; none without crons."""
    if door is None or not config.crons:
        return None
    scheduler = CronScheduler(config.crons, door, clock)
    scheduler.start()
    return scheduler


async def serve(
    config: ShimConfig,
    secrets: ShimSecrets,
    control_fd: int | None,
    api_fd: int | None,
    api_limits: Limits = API_LIMITS,
) -> None:
    door = None
    if config.door_socket is not None:
        door = Door(DoorAddress(socket=config.door_socket, token=secrets.door_token))
    shim = Shim(config, secrets.token, door)
    try:
        await shim.open()
    except Refusal as refusal:
        if control_fd is not None:
            os.write(
                control_fd, RefusedEvent(failure=refusal.failure, reason=refusal.reason).line()
            )
        raise SystemExit(refusal.reason) from refusal
    config.socket.unlink(missing_ok=True)
    server = await serve_unix(shim.dispatch, str(config.socket))
    config.socket.chmod(0o600)
    bound = config.socket.stat()
    if api_fd is not None:
        listener = socket.socket(fileno=api_fd)
        address = listener.getsockname()[:2]
        await serve_socket(rest_api(config, secrets, shim, door, address), listener, api_limits)
    # Before readiness: a SIGTERM right after it is a clean stop, not a death by signal.
    stop = asyncio.Event()
    on_stop_signals(asyncio.get_running_loop(), stop.set)
    log.info("listening on %s (%d resources)", config.socket, len(config.resources))
    if control_fd is not None:
        os.write(control_fd, ListenEvent(socket="shim").model_dump_json().encode() + b"\n")
        os.close(control_fd)
    delivering: list[CronScheduler | QueueDispatcher] = []
    alone = asyncio.create_task(deliver_when_alone(config, door, shim, delivering))
    await stop.wait()
    alone.cancel()
    for started in reversed(delivering):
        await started.stop()
    server.close()
    await shim.close()
    unlink_if_ours(config.socket, bound)


async def deliver_when_alone(
    config: ShimConfig,
    door: Door | None,
    shim: Shim,
    delivering: list[CronScheduler | QueueDispatcher],
) -> None:
    """Fires cron triggers and delivers queue batches (appended to `delivering`) once no other
    shim of the data dir does: a reload starts the new shim before the old one stops, and
    both would otherwise fire the same cron and deliver the same batch. The lock is the
    OS's, so it goes with the process that held it, however it ends."""
    lock = os.open(DataDir(root=config.data_dir).deliveries_lock, os.O_RDWR | os.O_CREAT, 0o600)
    # The OS says nothing when a lock is let go, and a thread waiting in flock() could not be
    # cancelled at stop: it is looked at.
    while not try_lock(lock):  # noqa: ASYNC110
        await asyncio.sleep(DELIVERIES_LOCK_POLL_SECONDS)
    triggers = cron_triggers(config, door, shim.clock)
    if triggers is not None:
        delivering.append(triggers)
    from groundflare.shim.queues.dispatch import start_dispatcher

    queues = start_dispatcher(config.queue_consumers, shim.resources, door, shim.clock)
    if queues is not None:
        delivering.append(queues)


def unlink_if_ours(path: Path, bound: os.stat_result) -> None:
    """The socket's path, unless a reload's new shim has bound it since (it took the path
    over before this one was told to stop)."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return
    if (now.st_dev, now.st_ino) == (bound.st_dev, bound.st_ino):
        path.unlink(missing_ok=True)


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
    config = ShimConfig.model_validate_json(args.config.read_bytes())
    raise_open_file_limit()
    main_task = serve(config, secrets, args.control_fd, args.api_fd, api_limits_from_env())
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_task)
    else:
        uvloop.run(main_task)


if __name__ == "__main__":
    main()
