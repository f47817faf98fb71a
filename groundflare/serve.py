"""`groundflare serve`: supervise the shim and workerd, report readiness, stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from contracts.secrets_pipe import SECRETS_FD_PLACEHOLDER
from groundflare.children import Child, ChildFailed, ChildSpec
from groundflare.dev import DevMode, Reloader, coloured_echo, status_table
from groundflare.events import ReadyEvent, emit
from groundflare.lock import DataDirLock
from groundflare.logs import RotatingLog
from groundflare.native_tools import Workerd
from groundflare.paths import DataDir, write_private
from groundflare.profile import Installation
from groundflare.proxy_contract import ProxySecrets
from groundflare.runtime import ComponentState, Runtime
from groundflare.sandbox_vm import prepare_vm, vm_component
from groundflare.sockets import listen_loopback, url
from groundflare.supervisor import Component, ComponentSpec, Supervisor
from shim.config import ShimConfig, ShimSecrets
from shim.names import file_part
from workerd_config.model import RenderContext, ShimAddress, Stack
from workerd_config.render import render_config
from workerd_config.stack_loader import LoadedStack

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
    # Secret values by environment variable: only workerd's environment gets them.
    secrets: dict[str, str] = field(default_factory=dict)
    # Lets tests move the shim's clock (KV expiration): set by $GROUNDFLARE_TEST_CLOCK=1.
    test_clock: bool = False
    # HOST:PORT the sandbox proxy forwards to (until the VM provides it).
    sandbox_upstream: str | None = None
    # `groundflare dev`: coloured logs, a status table, reloads.
    dev: DevMode | None = None
    # Boot the sandbox microVM; None: as the profile says.
    vm: bool | None = None


def python_module(module: str) -> list[str]:
    """`python -m module`, isolated: neither the working directory (the data dir's `run/`,
    where anything may be planted) nor PYTHON* variables decide what it imports."""
    return [sys.executable, "-I", "-u", "-m", module]


def base_env() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSED_ENV if name in os.environ}


async def announced_listening(child: Child) -> None:
    """Readiness of the shim and the proxy: their one `listen` line on the control fd."""
    await child.wait_for(lambda e: e.get("event") == "listen", READY_TIMEOUT_SECONDS)


def echo(component: str, line: str) -> None:
    sys.stderr.write(f"[{component}] {line}\n")
    sys.stderr.flush()


@dataclass
class Listeners:
    workers: dict[str, socket.socket] = field(default_factory=dict)
    api: socket.socket | None = None
    sandbox: socket.socket | None = None

    def close(self) -> None:
        for listener in [*self.workers.values(), self.api, self.sandbox]:
            if listener is not None:
                listener.close()


class Boot:
    """One boot of the stack: its files, sockets and supervised components."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.shim_token = secrets.token_urlsafe(32)
        self.surface_token = secrets.token_urlsafe(32)
        self.cors_origins: list[str] = []
        self.listeners = Listeners()
        self.logs: dict[str, RotatingLog] = {}
        self.secrets: dict[str, str] = {}
        self.ready_sent = False
        self.supervisor: Supervisor | None = None

    # ---- files ----

    def shim_config(self) -> ShimConfig:
        stack = self.options.stack
        return ShimConfig(
            socket=self.data_dir.shim_socket,
            data_dir=self.data_dir.root,
            d1=stack.d1_databases(),
            kv=stack.kv_namespaces(),
            r2=stack.r2_buckets(),
            test_clock=self.options.test_clock,
        )

    def write_configs(self) -> None:
        stack = self.options.stack
        shim = self.shim_config()
        write_private(self.data_dir.shim_config, shim.model_dump_json().encode("utf-8"))
        ctx = RenderContext(
            shim=ShimAddress(socket=self.data_dir.shim_socket, token=self.shim_token),
            config_dir=self.data_dir.run,
            do_dir=self.data_dir.durable_objects,
        )
        for worker in stack.workers:
            if worker.durable_objects:
                (ctx.do_dir / file_part(worker.name)).mkdir(mode=0o700, exist_ok=True)
        write_private(self.data_dir.workerd_config, render_config(stack, ctx).encode("utf-8"))

    def _log(self, name: str) -> RotatingLog:
        return self.logs.setdefault(name, RotatingLog(self.data_dir.log_file(name)))

    def _spec(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        fds: tuple[int, ...] = (),
        cwd: Path | None = None,
        secrets: dict[str, str] | None = None,
    ) -> ChildSpec:
        return ChildSpec(
            name=name,
            argv=argv,
            env=env,
            cwd=cwd or self.data_dir.run,
            log=self._log(name),
            echo=coloured_echo if self.options.dev else echo,
            pass_fds=fds,
            secrets=secrets or {},
        )

    # ---- components ----

    def shim_component(self) -> ComponentSpec:
        assert self.listeners.api is not None
        api_fd = self.listeners.api.fileno()
        argv = [
            *python_module("shim"),
            "--config",
            str(self.data_dir.shim_config),
            "--control-fd",
            "{control_fd}",
            "--api-fd",
            str(api_fd),
            "--secrets-fd",
            SECRETS_FD_PLACEHOLDER,
        ]
        env = base_env()
        secrets = ShimSecrets(token=self.shim_token, api_token=self.secrets["api_token"])

        return ComponentSpec(
            "shim",
            lambda: self._spec("shim", argv, env, (api_fd,), secrets=secrets.model_dump()),
            announced_listening,
        )

    def workerd_component(self) -> ComponentSpec:
        argv = [
            str(self.options.workerd.path),
            "serve",
            str(self.data_dir.workerd_config),
            "config",
            "--control-fd",
            "{control_fd}",
        ]
        fds = []
        sockets = {}
        for worker in self.options.stack.workers:
            listener = self.listeners.workers[worker.name]
            argv += ["--socket-fd", f"{worker.socket_name}={listener.fileno()}"]
            fds.append(listener.fileno())
            sockets[worker.socket_name] = worker.name

        async def ready(child: Child) -> None:
            pending = set(sockets)

            def listening(event: dict[str, object]) -> bool:
                if event.get("event") == "listen":
                    pending.discard(str(event.get("socket")))
                return not pending

            await child.wait_for(listening, READY_TIMEOUT_SECONDS)

        def spec() -> ChildSpec:
            env = {**base_env(), **self.options.secrets}
            return self._spec("workerd", argv, env, tuple(fds))

        return ComponentSpec("workerd", spec, ready)

    def proxy_component(self, upstream: str) -> ComponentSpec:
        assert self.listeners.sandbox is not None
        fd = self.listeners.sandbox.fileno()
        argv = [
            *python_module("groundflare.proxy"),
            "--listen-fd",
            str(fd),
            "--upstream",
            upstream,
            "--control-fd",
            "{control_fd}",
            "--secrets-fd",
            SECRETS_FD_PLACEHOLDER,
        ]
        for origin in self.cors_origins:
            argv += ["--cors-origin", origin]
        env = base_env()
        secrets = ProxySecrets(
            surface_token=self.surface_token, sandbox_token=self.secrets["sandbox_token"]
        )

        return ComponentSpec(
            "proxy",
            lambda: self._spec("proxy", argv, env, (fd,), secrets=secrets.model_dump()),
            announced_listening,
        )

    # ---- state reporting ----

    def endpoints(self) -> dict[str, str]:
        found = {f"worker:{name}": url(s) for name, s in self.listeners.workers.items()}
        found["shim"] = f"unix:{self.data_dir.shim_socket}"
        if self.listeners.api is not None:
            found["api"] = url(self.listeners.api)
        if self.listeners.sandbox is not None:
            found["sandbox"] = url(self.listeners.sandbox)
        return found

    def on_change(self, component: Component, event: str) -> None:
        if self.supervisor is not None:
            self.write_runtime()
        if not self.ready_sent:
            return
        if event == "reloaded":
            emit({"event": "reloaded", "component": component.name, "pid": component.pid})
        elif event == "restarted":
            emit(
                {
                    "event": "restarted",
                    "component": component.name,
                    "pid": component.pid,
                    "restarts": component.restarts,
                }
            )
        elif event == "fatal" and component.failure is not None:
            emit(
                {
                    "event": "fatal",
                    "component": component.name,
                    "class": component.failure.failure.value,
                    "reason": component.failure.reason,
                    "advice": component.failure.failure.advice,
                }
            )

    def write_runtime(self) -> None:
        assert self.supervisor is not None
        Runtime(
            pid=os.getpid(),
            components={
                c.name: ComponentState(pid=c.pid, state=c.state.value)
                for c in self.supervisor.components
            },
            endpoints=self.endpoints(),
        ).write(self.data_dir.runtime_json)

    def ready_event(self) -> ReadyEvent:
        workers = {name: url(s) for name, s in self.listeners.workers.items()}
        return ReadyEvent(
            url=next(iter(workers.values())),
            workers=workers,
            api=url(self.listeners.api) if self.listeners.api else None,
            sandbox=url(self.listeners.sandbox) if self.listeners.sandbox else None,
            surface_token=self.surface_token if self.listeners.sandbox else None,
            pid=os.getpid(),
            data_dir=str(self.data_dir.root),
        )

    # ---- lifecycle ----

    def prepare(self) -> None:
        """Everything before any child starts: files, secrets, sockets."""
        self.data_dir.prepare()
        install = Installation(self.data_dir.root)
        profile = install.load_or_create()
        self.secrets = install.secrets(profile)
        for worker in self.options.stack.workers:
            self.listeners.workers[worker.name] = listen_loopback(worker.port, "workerd")
        self.listeners.api = listen_loopback(profile.ports.api, "api")
        components = [self.shim_component(), self.workerd_component()]
        upstream = self.options.sandbox_upstream
        if self.options.vm if self.options.vm is not None else profile.vm.enabled:
            first = next(iter(self.listeners.workers.values()))
            vm = prepare_vm(
                profile, self.data_dir.run / "vm", self.secrets["sandbox_token"], url(first)
            )
            components.append(vm_component(vm, self._spec))
            upstream = upstream or vm.upstream
        if upstream:
            self.cors_origins = profile.cors_origins
            self.listeners.sandbox = listen_loopback(profile.ports.sandbox, "proxy")
            components.append(self.proxy_component(upstream))
        self.write_configs()
        self.supervisor = Supervisor(components, self.on_change)

    async def reload(self, loaded: LoadedStack) -> None:
        """Point the stack at changed Worker configs or sources; data and sockets stay."""
        assert self.supervisor is not None
        before = self.shim_config()
        self.options.stack = loaded.stack
        self.options.secrets = loaded.secrets
        self.write_configs()
        if self.shim_config() != before:
            await self.supervisor["shim"].replace()
        await self.supervisor["workerd"].replace()

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        self.listeners.close()
        self.data_dir.runtime_json.unlink(missing_ok=True)
        for log_file in self.logs.values():
            log_file.close()


async def run(options: Options, lock: DataDirLock) -> int:
    """Serve until stopped; `lock` is the data dir's, taken before anything was written."""
    stack = Boot(options)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        return await _serve(stack, stopping)
    finally:
        await stack.stop()
        lock.release()


async def _serve(stack: Boot, stopping: asyncio.Event) -> int:
    try:
        # In a thread: building the VM image (first run) takes a while; signals still count.
        await asyncio.to_thread(stack.prepare)
        assert stack.supervisor is not None
        start = asyncio.ensure_future(stack.supervisor.start())
        stop_wait = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({start, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not start.done():
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
            return 0
        stop_wait.cancel()
        start.result()
    except ChildFailed as exc:
        raise StartFailure(exc.component, exc.reason) from exc
    stack.ready_sent = True
    ready = stack.ready_event()
    for name, worker_url in ready.workers.items():
        log.info("ready: %s at %s", name, worker_url)
    reloader = start_dev(stack)
    emit(ready)
    fatal = asyncio.ensure_future(stack.supervisor.until_fatal())
    stop_wait = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({fatal, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if reloader is not None:
        reloader.cancel()
    if stop_wait.done():
        fatal.cancel()
        await stack.supervisor.stop()
        emit({"event": "stopped"})
        return 0
    stop_wait.cancel()
    component = fatal.result()
    assert component.failure is not None
    raise StartFailure(
        component.name, f"{component.failure.reason} ({component.failure.failure.advice})"
    )


def start_dev(boot: Boot) -> asyncio.Task[None] | None:
    """In dev mode: the status table, then the reloader."""
    dev = boot.options.dev
    if dev is None:
        return None
    sys.stderr.write(
        "\n"
        + status_table(Runtime.model_validate_json(boot.data_dir.runtime_json.read_bytes()))
        + "\n\n"
    )
    reloader = Reloader(dev.inputs, dev.load, lambda: boot.options.stack, boot.reload)
    return asyncio.ensure_future(reloader.run())


def serve(options: Options, lock: DataDirLock) -> int:
    return asyncio.run(run(options, lock))
