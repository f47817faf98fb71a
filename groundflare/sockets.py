"""Loopback listeners the supervisor owns and its children inherit.

Holding the socket means a port (even one picked with 0) survives a child's
restart: the ready line's URLs stay true, and connections that arrive while
workerd restarts wait in the backlog instead of being refused.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from groundflare.contracts.failures import FailureClass, StartFailure

BACKLOG = 511


def listen_loopback(port: int, component: str, reuse_port: bool = False) -> socket.socket:
    """`reuse_port`: another socket with it may listen on the same port (the next workerd's,
    groundflare/handover.py)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(BACKLOG)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise port_in_use(port, component) from exc
        raise
    listener.set_inheritable(True)
    return listener


def port_in_use(port: int, component: str) -> StartFailure:
    return StartFailure(
        component,
        f"port {port} on 127.0.0.1 is already in use: pick another --port (0 picks a free one)",
        FailureClass.PORT_IN_USE,
    )


def url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://{host}:{port}"


def listen_unix(path: Path) -> socket.socket:
    """A unix listening socket only this user reaches (0600, in the 0700 run/ folder); a
    stale one left by a killed stack is replaced (the data dir's lock says it is ours)."""
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(0o600)
    listener.listen(BACKLOG)
    listener.set_inheritable(True)
    return listener
