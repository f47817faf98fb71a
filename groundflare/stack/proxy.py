"""The sandbox proxy component: the frontend's only door to the sandbox."""

from __future__ import annotations

import socket

from groundflare.contracts.proxy import SANDBOX_HEADER, ProxySecrets
from groundflare.contracts.secrets_pipe import SECRETS_FD_PLACEHOLDER
from groundflare.stack.processes import ChildSpecs, announced_listening, base_env, python_module
from groundflare.supervisor import ComponentSpec


def proxy_component(
    specs: ChildSpecs,
    listener: socket.socket,
    upstream: str,
    cors_origins: list[str],
    secrets: ProxySecrets,
    sandbox_auth: tuple[str, str | None] = (SANDBOX_HEADER, None),
) -> ComponentSpec:
    """`sandbox_auth`: the header the sandbox checks its token in, and the scheme before it."""
    fd = listener.fileno()
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
    for origin in cors_origins:
        argv += ["--cors-origin", origin]
    header, scheme = sandbox_auth
    argv += ["--sandbox-header", header] + (["--sandbox-scheme", scheme] if scheme else [])
    env = base_env()
    return ComponentSpec(
        "proxy",
        lambda: specs("proxy", argv, env, (fd,), secrets=secrets.model_dump()),
        announced_listening,
    )
