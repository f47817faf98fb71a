"""One boot of the stack: its files, sockets, tokens and supervised components.

The microVM's modules are imported only when a VM is configured: most stacks have none, and
they are a tenth of the cold start (docs/performance.md)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from groundflare.contracts.door import DOOR_SOCKET_NAME, DoorAddress
from groundflare.contracts.events import ReadyEvent, ReloadedEvent, RestartedEvent
from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.contracts.layout import DataDir
from groundflare.contracts.proxy import ProxySecrets
from groundflare.contracts.shim_config import ShimConfig, ShimSecrets
from groundflare.contracts.traces import TraceRetention
from groundflare.events import emit
from groundflare.handover import PortHandover, listen_steerable, steerable
from groundflare.native_tools import Workerd
from groundflare.paths import write_private
from groundflare.profile import Installation, ProfileError
from groundflare.runtime import ComponentState, Runtime
from groundflare.secret_store import SecretStoreError
from groundflare.shim.secrets_store.vault import KEY_ENV, derive_key
from groundflare.sockets import listen_loopback, listen_unix, url
from groundflare.stack.processes import ChildSpecs, Echo, plain_echo
from groundflare.stack.proxy import proxy_component
from groundflare.stack.shim import shim_component, shim_config, write_shim_config
from groundflare.stack.workerd import workerd_component, write_workerd_config
from groundflare.supervisor import Component, ComponentSpec, Supervisor
from groundflare.workerd_config.model import OutboundPolicy, Stack
from groundflare.workerd_config.outbound import DEFAULT_OUTBOUND, RULE_TEXT
from groundflare.workerd_config.stack_loader import LoadedStack

if TYPE_CHECKING:
    from groundflare.stack.vm import SandboxVm

log = logging.getLogger("groundflare")

# Called once the stack is ready, just before the ready line; what it returns runs until the
# stack stops (dev's reloader). Its failure never stops the stack.
Addon = Callable[["Boot"], Awaitable[None]]


@dataclass
class Options:
    stack: Stack
    data_dir: DataDir
    workerd: Workerd
    # Secret values by environment variable: only workerd's environment gets them.
    secrets: dict[str, str] = field(default_factory=dict)
    # Binding kinds beyond the built-in ones (shim/registry.py), for the shim to load too.
    plugins: list[str] = field(default_factory=list)
    # Lets tests move the shim's clock (KV expiration): set by $GROUNDFLARE_TEST_CLOCK=1.
    test_clock: bool = False
    # HOST:PORT the sandbox proxy forwards to (until the VM provides it).
    sandbox_upstream: str | None = None
    # Boot the sandbox microVM; None: as the profile says.
    vm: bool | None = None
    # Where Workers' own fetch() may go (--outbound); None: as the profile says.
    outbound: OutboundPolicy | None = None
    # Record invocations for the request log (--traces/--no-traces); None: as the profile says.
    traces: bool | None = None
    # The Cache API keeps responses (--cache/--no-cache); None: as the profile says.
    cache: bool | None = None
    # How a child's output lines reach stderr.
    echo: Echo = plain_echo
    addon: Addon | None = None
    # Stop when stdin reaches its end (the sidecar host died or closed it): docs/desktop.md.
    exit_on_stdin_eof: bool = False
    # Children die with the supervisor (PR_SET_PDEATHSIG, Linux); off only in a test.
    die_with_parent: bool = True


@dataclass
class Listeners:
    # What workerd inherits, by the name its config gives each socket (every Worker's port,
    # the door's unix socket): a reload's handover replaces them in place.
    workerd: dict[str, socket.socket] = field(default_factory=dict)
    # Worker name -> the name of its port in `workerd`.
    ports: dict[str, str] = field(default_factory=dict)
    api: socket.socket | None = None
    sandbox: socket.socket | None = None

    def workers(self) -> dict[str, socket.socket]:
        """Each Worker's listener, by Worker name."""
        return {worker: self.workerd[name] for worker, name in self.ports.items()}

    def close(self) -> None:
        for listener in [*self.workerd.values(), self.api, self.sandbox]:
            if listener is not None:
                listener.close()


class Boot:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.shim_token = secrets.token_urlsafe(32)
        self.surface_token = secrets.token_urlsafe(32)
        # The sandbox's internal token: new for every run, never in a snapshot (docs/vm.md).
        self.sandbox_token = secrets.token_urlsafe(32)
        self.vm: SandboxVm | None = None
        # workerd's environment for the sandbox's token binding.
        self.vm_secrets: dict[str, str] = {}
        self.door = DoorAddress(
            socket=options.data_dir.door_socket, token=secrets.token_urlsafe(32)
        )
        self.listeners = Listeners()
        self.specs = ChildSpecs(options.data_dir, options.echo, options.die_with_parent)
        self.ready_sent = False
        self.supervisor: Supervisor | None = None
        self.outbound: OutboundPolicy = options.outbound or DEFAULT_OUTBOUND
        # The request log's retention, or None when invocations are not recorded.
        self.traces: TraceRetention | None = TraceRetention() if options.traces else None
        self.cache: bool = options.cache is not False

    # ---- files ----

    def shim_config(self) -> ShimConfig:
        options = self.options
        return shim_config(
            self.stack(), self.data_dir, options.plugins, options.test_clock, self.traces
        )

    def stack(self) -> Stack:
        """The stack as this run's options and profile decide it (outbound rule, cache)."""
        return self.options.stack.model_copy(
            update={"outbound": self.outbound, "cache": self.cache}
        )

    def write_configs(self) -> None:
        write_shim_config(self.shim_config(), self.data_dir)
        stack = self.stack()
        write_workerd_config(
            stack, self.data_dir, self.shim_token, self.door, traces=self.traces is not None
        )

    # ---- state reporting ----

    def endpoints(self) -> dict[str, str]:
        found = {f"worker:{name}": url(s) for name, s in self.listeners.workers().items()}
        found["shim"] = f"unix:{self.data_dir.shim_socket}"
        found["door"] = f"unix:{self.data_dir.door_socket}"
        if self.listeners.api is not None:
            found["api"] = url(self.listeners.api)
        if self.listeners.sandbox is not None:
            found["sandbox"] = url(self.listeners.sandbox)
        return found

    def on_change(self, component: Component, event: str) -> None:
        """runtime.json follows every state; restarts and reloads after ready are events
        (a fatal component ends the run, which reports it once)."""
        if self.supervisor is not None:
            self.write_runtime()
        if not self.ready_sent:
            return
        if event == "reloaded":
            emit(ReloadedEvent(component=component.name, pid=component.pid))
        elif event == "restarted":
            emit(
                RestartedEvent(
                    component=component.name, pid=component.pid, restarts=component.restarts
                )
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
        workers = {name: url(s) for name, s in self.listeners.workers().items()}
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
        """Everything before any child starts: secrets, sockets, configs, components."""
        install = Installation(self.data_dir.root)
        try:
            profile = install.load_or_create()
        except ProfileError as exc:
            raise StartFailure("profile", str(exc), FailureClass.CONFIG) from exc
        try:
            install_secrets = install.secrets(profile)
        except SecretStoreError as exc:
            raise StartFailure("secrets", str(exc), FailureClass.CONFIG) from exc
        self.outbound = self.options.outbound or profile.outbound
        traced = profile.traces.enabled if self.options.traces is None else self.options.traces
        self.traces = profile.traces.retention() if traced else None
        self.cache = profile.cache if self.options.cache is None else self.options.cache
        log.info("outbound: %s", RULE_TEXT[self.outbound])
        stack = self.options.stack
        listen = listen_steerable if steerable() else listen_loopback
        for worker in stack.workers:
            self.listeners.ports[worker.name] = worker.socket_name
            self.listeners.workerd[worker.socket_name] = listen(worker.port, "workerd")
        self.listeners.api = listen_loopback(profile.ports.api, "api")
        self.listeners.workerd[DOOR_SOCKET_NAME] = listen_unix(self.data_dir.door_socket)
        write_private(self.data_dir.door_json, self.door.model_dump_json().encode("utf-8"))
        store_key = derive_key(install_secrets["secrets_key"]).hex()
        shim_secrets = ShimSecrets(
            token=self.shim_token,
            api_token=install_secrets["api_token"],
            door_token=self.door.token,
            s3_access_key_id=install_secrets["s3_access_key_id"],
            s3_secret_access_key=install_secrets["s3_secret_access_key"],
        )
        components: list[ComponentSpec] = [
            shim_component(self.data_dir, self.specs, self.listeners.api, shim_secrets),
            workerd_component(
                self.options.workerd,
                stack,
                self.data_dir,
                self.specs,
                self.listeners.workerd,
                # The Secrets Store's key reaches the Workers as their other secrets do.
                lambda: {**self.options.secrets, KEY_ENV: store_key, **self.vm_secrets},
                PortHandover(self.listeners.workerd) if steerable() else None,
            ),
        ]
        upstream = self.options.sandbox_upstream
        if self.options.vm if self.options.vm is not None else profile.vm.enabled:
            from groundflare.stack.vm import prepare_vm, sandbox_bindings, vm_component

            first = next(iter(self.listeners.workers().values()))
            self.vm = vm = prepare_vm(profile, self.data_dir, self.sandbox_token, url(first))
            self.options.stack, self.vm_secrets = sandbox_bindings(stack, vm, profile.vm.bindings)
            components.append(vm_component(vm, self.specs, self.specs.log("vm-console")))
            upstream = upstream or vm.upstream
        if upstream:
            self.listeners.sandbox = listen_loopback(profile.ports.sandbox, "proxy")
            proxy_secrets = ProxySecrets(
                surface_token=self.surface_token, sandbox_token=self.sandbox_token
            )
            components.append(
                proxy_component(
                    self.specs,
                    self.listeners.sandbox,
                    upstream,
                    profile.cors_origins,
                    proxy_secrets,
                    (profile.vm.sandbox.header, profile.vm.sandbox.scheme),
                )
            )
        self.write_configs()
        self.supervisor = Supervisor(components, self.on_change)

    async def reload(self, loaded: LoadedStack) -> None:
        """Point the stack at changed Worker configs or sources; data and sockets stay."""
        assert self.supervisor is not None
        before = self.shim_config()
        self.options.stack = loaded.stack
        self.options.secrets = loaded.secrets
        if self.vm is not None:
            from groundflare.stack.vm import sandbox_bindings

            self.options.stack, _ = sandbox_bindings(
                loaded.stack, self.vm, self.vm.resources.bindings
            )
        self.write_configs()
        if self.shim_config() == before:
            await self.supervisor["workerd"].replace()
            return
        # The new shim takes the socket's path, so the new workerd reaches it; the old one
        # serves the old workerd's open connections until that workerd has stopped.
        async with self.supervisor["shim"].replacing():
            await self.supervisor["workerd"].replace()

    async def stop(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        self.listeners.close()
        for left in (
            self.data_dir.runtime_json,
            self.data_dir.door_json,
            self.data_dir.door_socket,
            self.data_dir.sandbox_json,
        ):
            left.unlink(missing_ok=True)
        self.specs.close()
