"""`groundflare serve`: start the shim and workerd, report readiness, stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass

from groundflare.children import Child, ChildFailed, ChildSpec
from groundflare.events import ReadyEvent, emit
from groundflare.paths import DataDir, write_private
from groundflare.runtime import ComponentState, Runtime
from groundflare.workerd_binary import Workerd
from shim.config import TOKEN_ENV, ShimConfig
from workerd_config.model import RenderContext, ShimAddress, Stack
from workerd_config.render import render_config

log = logging.getLogger("groundflare")

READY_TIMEOUT_SECONDS = 60.0
# Only what a child needs from our environment; secrets are added per child.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")


class StartFailure(Exception):
    def __init__(self, component: str, reason: str) -> None:
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason


@dataclass
class Options:
    stack: Stack
    data_dir: DataDir
    workerd: Workerd
    # Lets tests move the shim's clock (KV expiration): set by $GROUNDFLARE_TEST_CLOCK=1.
    test_clock: bool = False


def base_env() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSED_ENV if name in os.environ}


def echo(component: str, line: str) -> None:
    sys.stderr.write(f"[{component}] {line}\n")
    sys.stderr.flush()


class StackRunner:
    """The running stack: children, their endpoints, and the way down."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.token = secrets.token_urlsafe(32)
        self.children: dict[str, Child] = {}
        self.worker_urls: dict[str, str] = {}

    def _spec(self, name: str, argv: list[str], env: dict[str, str]) -> ChildSpec:
        return ChildSpec(
            name=name,
            argv=argv,
            env=env,
            cwd=self.data_dir.run,
            log_file=self.data_dir.log_file(name),
            echo=echo,
        )

    def write_configs(self) -> None:
        stack = self.options.stack
        shim = ShimConfig(
            socket=self.data_dir.shim_socket,
            data_dir=self.data_dir.root,
            d1=stack.d1_databases(),
            kv=stack.kv_namespaces(),
            r2=stack.r2_buckets(),
            test_clock=self.options.test_clock,
        )
        write_private(self.data_dir.shim_config, shim.model_dump_json().encode("utf-8"))
        ctx = RenderContext(
            shim=ShimAddress(socket=self.data_dir.shim_socket, token=self.token),
            config_dir=self.data_dir.run,
        )
        write_private(self.data_dir.workerd_config, render_config(stack, ctx).encode("utf-8"))

    async def start(self) -> None:
        self.data_dir.prepare()
        self.write_configs()
        shim = Child(
            self._spec(
                "shim",
                [
                    sys.executable,
                    "-m",
                    "shim",
                    "--config",
                    str(self.data_dir.shim_config),
                    "--control-fd",
                    "{control_fd}",
                ],
                {**base_env(), TOKEN_ENV: self.token, "PYTHONUNBUFFERED": "1"},
            )
        )
        workerd = Child(
            self._spec(
                "workerd",
                [
                    str(self.options.workerd.path),
                    "serve",
                    str(self.data_dir.workerd_config),
                    "config",
                    "--control-fd",
                    "{control_fd}",
                ],
                base_env(),
            )
        )
        self.children = {"shim": shim, "workerd": workerd}
        await asyncio.gather(shim.start(), workerd.start())
        await asyncio.gather(
            shim.wait_for(lambda event: event.get("event") == "listen", READY_TIMEOUT_SECONDS),
            self._wait_for_workers(workerd),
        )

    async def _wait_for_workers(self, workerd: Child) -> None:
        sockets = {worker.socket_name: worker.name for worker in self.options.stack.workers}

        def listening(event: dict[str, object]) -> bool:
            name = sockets.get(str(event.get("socket")))
            if event.get("event") == "listen" and name is not None:
                self.worker_urls[name] = f"http://127.0.0.1:{event['port']}"
            return len(self.worker_urls) == len(sockets)

        await workerd.wait_for(listening, READY_TIMEOUT_SECONDS)

    def ready_event(self) -> ReadyEvent:
        first = self.options.stack.workers[0].name
        ordered = {w.name: self.worker_urls[w.name] for w in self.options.stack.workers}
        return ReadyEvent(
            url=self.worker_urls[first],
            workers=ordered,
            pid=os.getpid(),
            data_dir=str(self.data_dir.root),
        )

    def write_runtime(self, state: str) -> None:
        Runtime(
            pid=os.getpid(),
            components={
                name: ComponentState(pid=child.pid, state=state)
                for name, child in self.children.items()
            },
            endpoints={
                **{f"worker:{n}": u for n, u in self.worker_urls.items()},
                "shim": f"unix:{self.data_dir.shim_socket}",
            },
        ).write(self.data_dir.runtime_json)

    async def stop(self) -> None:
        # workerd first: it is the shim's only client.
        for name in ("workerd", "shim"):
            child = self.children.get(name)
            if child is not None:
                await child.stop()
        self.data_dir.runtime_json.unlink(missing_ok=True)


def explain(reason: str, stack: Stack) -> str:
    """Turn a known low-level failure into what to do about it."""
    if "Address already in use" in reason:
        ports = [str(w.port) for w in stack.workers if f'"{w.socket_name}"' in reason]
        port = ports[0] if ports else "the Worker's port"
        return (
            f"port {port} on 127.0.0.1 is already in use: pick another --port (0 picks a free one)"
        )
    return reason


async def run(options: Options) -> int:
    runner = StackRunner(options)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        start = asyncio.create_task(runner.start())
        stop_wait = asyncio.create_task(stopping.wait())
        await asyncio.wait({start, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not start.done():
            start.cancel()
            await runner.stop()
            return 0
        stop_wait.cancel()
        start.result()
    except ChildFailed as exc:
        await runner.stop()
        raise StartFailure(exc.component, explain(exc.reason, options.stack)) from exc
    runner.write_runtime("running")
    ready = runner.ready_event()
    for name, url in ready.workers.items():
        log.info("ready: %s at %s", name, url)
    emit(ready)
    exits = {
        asyncio.create_task(child.wait(), name=name) for name, child in runner.children.items()
    }
    stop_wait = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait({*exits, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if stop_wait in done:
        await runner.stop()
        emit({"event": "stopped"})
        return 0
    crashed = next(task for task in done if task is not stop_wait)
    child = runner.children[crashed.get_name()]
    reason = child.last_words(f"exited with status {crashed.result()}")
    emit({"event": "fatal", "component": child.spec.name, "reason": reason})
    await runner.stop()
    raise StartFailure(child.spec.name, f"exited unexpectedly: {reason}")


def serve(options: Options) -> int:
    return asyncio.run(run(options))
