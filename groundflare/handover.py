"""The Workers' ports handed from one workerd to the next on a reload, dropping no connection.

Two workerds inheriting one listening socket share its queue, and the old one accepts from it
until it is told to stop. workerd's drain on SIGTERM cancels its accept loop, and with it a
connection the loop had taken from the queue but not yet started serving: that client sees
the connection closed without an answer (about one reload in twenty under steady requests,
tests/test_dev.py). So on Linux each workerd gets a socket of its own on the port
(SO_REUSEPORT), and a one-instruction classic BPF program on the port's group says which
socket a new connection goes to: the oldest until the new workerd is ready, then the newest.
The old workerd is stopped only once its socket's queue is empty, and that socket is closed
after it. Elsewhere both workerds share one socket, as before.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import socket
import struct
import sys
from pathlib import Path

from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.sockets import listen_loopback, port_in_use

# linux/asm-generic/socket.h; Python's socket module does not name it.
SO_ATTACH_REUSEPORT_CBPF = 51
# BPF_RET | BPF_K: return the constant, here an index into the group's sockets, which are in
# the order they started listening (a closed one's place is taken by the last).
BPF_RET_K = 0x06
OLDEST, NEWEST = 0, 1
# struct tcp_info: eight one-byte fields, then u32 rto, ato, snd_mss, rcv_mss, unacked; on a
# listening socket `unacked` is the number of connections waiting to be accepted.
TCP_INFO_SIZE = 104
TCP_INFO_UNACKED = 24
PROC_NET_TCP = Path("/proc/net/tcp")
TCP_LISTEN = "0A"

DRAIN_POLL_SECONDS = 0.01
# A workerd too busy to accept for 5 s loses what waits for it, as it did before.
DRAIN_POLLS = 500
# The old workerd takes its last connection off the queue a moment before it starts reading
# it; SIGTERM in between is what closed connections unanswered.
SETTLE_SECONDS = 0.05


def steer(listener: socket.socket, index: int) -> None:
    """New connections to the listener's port go to its group's socket at `index` (one past
    the last: the kernel's hash picks, which with one socket is that one)."""
    instruction = struct.pack("HBBI", BPF_RET_K, 0, 0, index)
    program = ctypes.create_string_buffer(instruction, len(instruction))
    fprog = struct.pack("@HP", 1, ctypes.addressof(program))
    listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def queued(listener: socket.socket) -> int:
    """Connections waiting in the listener's accept queue."""
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    return int(struct.unpack_from("I", info, TCP_INFO_UNACKED)[0])


@functools.cache
def steerable() -> bool:
    """Whether this kernel steers a port's connections (Linux >= 4.6, where /proc/net/tcp
    says who listens): a throwaway listener tries it."""
    if sys.platform != "linux" or not PROC_NET_TCP.exists():
        return False
    try:
        with listen_loopback(0, "workerd", reuse_port=True) as probe:
            steer(probe, OLDEST)
            queued(probe)
    except OSError:
        return False
    return True


def _listening_on(port: int) -> int:
    """Listening TCP sockets on 127.0.0.1 or 0.0.0.0 at `port`, in this network namespace."""
    count = 0
    for line in PROC_NET_TCP.read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if (
            fields[3] == TCP_LISTEN
            and int(hex_port, 16) == port
            and address in ("0100007F", "00000000")
        ):
            count += 1
    return count


def listen_steerable(port: int, component: str) -> socket.socket:
    """A loopback listener the next workerd can take over. SO_REUSEPORT would also let another
    process of this user listen on the port beside it, so it is refused when it is not alone
    there, as a taken port is."""
    listener = listen_loopback(port, component, reuse_port=True)
    bound = listener.getsockname()[1]
    if _listening_on(bound) != 1:
        listener.close()
        raise port_in_use(bound, component)
    steer(listener, OLDEST)
    return listener


class PortHandover:
    """The Workers' listeners (the dict the stack keeps, updated in place) and, during a
    reload, the ones the new workerd listens on."""

    def __init__(self, listeners: dict[str, socket.socket]) -> None:
        self._current = listeners
        self._next: dict[str, socket.socket] = {}

    def inherited(self) -> dict[str, socket.socket]:
        """What a workerd started now listens on: the reload's new sockets during one."""
        return self._next or self._current

    def prepare(self) -> None:
        """New sockets beside the current ones; the current keep every connection. On a
        failure, `abort` closes those made."""
        for name, listener in self._current.items():
            port = listener.getsockname()[1]
            try:
                self._next[name] = listen_loopback(port, "workerd", reuse_port=True)
            except OSError as exc:
                raise StartFailure(
                    "workerd",
                    f"cannot listen beside port {port} for the new workerd: {exc}",
                    FailureClass.INTERNAL,
                ) from exc

    async def commit(self) -> None:
        """The new workerd is ready: new connections go to it; returns once the old one has
        taken everything that was waiting for it."""
        for listener in self._current.values():
            steer(listener, NEWEST)
        # The kernel says nothing when a queue empties: it is looked at.
        for _ in range(DRAIN_POLLS):
            if not any(queued(listener) for listener in self._current.values()):
                break
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)

    def finish(self) -> None:
        """The old workerd has stopped: its sockets go, the new ones are current."""
        for name, listener in self._next.items():
            self._current[name].close()
            self._current[name] = listener
            steer(listener, OLDEST)
        self._next = {}

    def abort(self) -> None:
        """The new workerd did not start: nothing was steered to its sockets."""
        for listener in self._next.values():
            listener.close()
        self._next = {}
