"""A free loopback port for the sandbox forward.

QEMU 7.2 cannot be handed a listening socket for a hostfwd, so we pick the port: bind
port 0, read it, close. Another process could take it in between; QEMU then exits at once
with "Could not set up host forwarding rule", which the supervisor sees as a failed start.
"""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
