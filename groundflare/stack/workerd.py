"""The workerd component: the Workers on the real runtime, one inherited socket each."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace

from groundflare.children import Child, ChildSpec
from groundflare.contracts.door import DoorAddress
from groundflare.contracts.layout import DataDir
from groundflare.contracts.names import file_part
from groundflare.handover import PortHandover
from groundflare.native_tools import Workerd
from groundflare.paths import write_private
from groundflare.sourcemaps import StackRemapper
from groundflare.stack.processes import READY_TIMEOUT_SECONDS, ChildSpecs, base_env
from groundflare.supervisor import ComponentSpec
from groundflare.workerd_config.model import RenderContext, ShimAddress, Stack
from groundflare.workerd_config.render import render_config


def write_workerd_config(
    stack: Stack, data_dir: DataDir, shim_token: str, door: DoorAddress, traces: bool = False
) -> None:
    ctx = RenderContext(
        shim=ShimAddress(socket=data_dir.shim_socket, token=shim_token),
        door=door,
        config_dir=data_dir.run,
        do_dir=data_dir.durable_objects,
    )
    for worker in stack.workers:
        if worker.durable_objects:
            (ctx.do_dir / file_part(worker.name)).mkdir(mode=0o700, exist_ok=True)
    config = render_config(stack, ctx, traces)
    write_private(data_dir.workerd_config, config.encode("utf-8"))


def workerd_component(
    workerd: Workerd,
    stack: Stack,
    data_dir: DataDir,
    specs: ChildSpecs,
    listeners: dict[str, socket.socket],
    secrets: Callable[[], dict[str, str]],
    handover: PortHandover | None = None,
) -> ComponentSpec:
    """`listeners`: what workerd inherits, by the name its config gives each socket (every
    Worker's port, the door). `secrets`: the Workers' secret values by environment variable
    (`fromEnvironment`), asked at every (re)start, so a reload's new values reach the next
    workerd. `handover`: a reload's new workerd listens on sockets of its own
    (groundflare/handover.py)."""

    async def ready(child: Child) -> None:
        pending = set(listeners)

        def listening(event: dict[str, object]) -> bool:
            if event.get("event") == "listen":
                pending.discard(str(event.get("socket")))
            return not pending

        await child.wait_for(listening, READY_TIMEOUT_SECONDS)

    # Positions in a bundle become the TypeScript file and line that threw.
    remap = StackRemapper(stack)

    def spec() -> ChildSpec:
        # --experimental: the door calls scheduled()/queue() through service bindings.
        argv = [str(workerd.path), "serve", str(data_dir.workerd_config), "config"]
        argv += ["--experimental", "--control-fd", "{control_fd}"]
        inherited = handover.inherited() if handover is not None else listeners
        for name, listener in inherited.items():
            argv += ["--socket-fd", f"{name}={listener.fileno()}"]
        fds = tuple(listener.fileno() for listener in inherited.values())
        child = specs("workerd", argv, {**base_env(), **secrets()}, fds)
        return replace(child, transform=remap)

    return ComponentSpec("workerd", spec, ready, handover)
