"""The Workers' ports handed from one workerd to the next on a reload, dropping no connection.

Two workerds inheriting one listening socket share its queue, and the old one accepts from it
until it is told to stop. workerd's drain on SIGTERM cancels its accept loop, and with it a
connection the loop had taken from the queue but not yet started serving: that client sees
the connection closed without an answer (about one reload in twenty under steady requests,
tests/test_dev.py). So on Linux each workerd gets a socket of its own on the port
(SO_REUSEPORT), and a one-instruction classic BPF program on the port's group says which
socket a new connection goes to: the oldest until the new workerd is ready, then the newest.
The old workerd is stopped only once its socket's queue is empty, and that socket is closed
after it. The door (a unix socket: no such steering) goes the same way by its path: the new
workerd's socket is bound beside it and renamed over it once that workerd is ready, so every
later connect reaches the new one. Elsewhere both workerds share one socket each, as before.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import socket
import struct
import sys
from pathlib import Path

from groundflare.contracts.failures import FailureClass, StartFailure
from groundflare.sockets import listen_loopback, listen_unix, port_in_use

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
# A unix listener's queue comes from the kernel's sock_diag netlink family (linux/sock_diag.h,
# linux/unix_diag.h): one unix_diag_req for the socket's inode, asking for its queue lengths.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NLMSG_HEADER = "=IHHII"
UNIX_DIAG_REQ = "=BBHIII2I"
UNIX_DIAG_MSG_SIZE = 16
UDIAG_SHOW_RQLEN = 0x10
UNIX_DIAG_RQLEN = 4
TCP_LISTEN_STATE = 10
NO_COOKIE = 0xFFFFFFFF
# Where the new workerd's door is bound until it is renamed over the current one.
NEXT_SUFFIX = ".next"

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
    if listener.family == socket.AF_UNIX:
        return _unix_queued(listener)
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    return int(struct.unpack_from("I", info, TCP_INFO_UNACKED)[0])


def _unix_queued(listener: socket.socket) -> int:
    """A unix listener's accept queue, as the kernel tells `ss -xl` (its Recv-Q)."""
    inode = os.fstat(listener.fileno()).st_ino
    ask = struct.pack(
        UNIX_DIAG_REQ,
        socket.AF_UNIX,
        0,
        0,
        1 << TCP_LISTEN_STATE,
        inode,
        UDIAG_SHOW_RQLEN,
        NO_COOKIE,
        NO_COOKIE,
    )
    header = struct.pack(
        NLMSG_HEADER,
        struct.calcsize(NLMSG_HEADER) + len(ask),
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST,
        0,
        0,
    )
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as netlink:
        netlink.send(header + ask)
        answer = netlink.recv(8192)
    length, kind = struct.unpack_from("=IH", answer)
    at = struct.calcsize(NLMSG_HEADER)
    if kind == NLMSG_ERROR:
        code = -struct.unpack_from("=i", answer, at)[0]
        raise OSError(code, f"sock_diag: {os.strerror(code)}")
    at += UNIX_DIAG_MSG_SIZE
    while at + 4 <= length:
        size, attribute = struct.unpack_from("=HH", answer, at)
        if attribute == UNIX_DIAG_RQLEN:
            return int(struct.unpack_from("=I", answer, at + 4)[0])
        at += max(4, (size + 3) & ~3)
    raise OSError("sock_diag: the kernel did not say the queue's length")


@functools.cache
def steerable() -> bool:
    """Whether this kernel steers a port's connections (Linux >= 4.6, where /proc/net/tcp
    says who listens) and tells a unix listener's queue (unix_diag): throwaway listeners try
    both."""
    if sys.platform != "linux" or not PROC_NET_TCP.exists():
        return False
    try:
        with listen_loopback(0, "workerd", reuse_port=True) as probe:
            steer(probe, OLDEST)
            queued(probe)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as door:
            # Linux's abstract namespace: nothing on disk to clean up.
            door.bind(f"\0groundflare-handover-probe-{os.getpid()}")
            door.listen()
            queued(door)
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
    """What workerd listens on (the dict the stack keeps, by socket name, updated in place:
    the Workers' ports and the door) and, during a reload, what the new workerd listens
    on."""

    def __init__(self, listeners: dict[str, socket.socket]) -> None:
        self._current = listeners
        self._next: dict[str, socket.socket] = {}
        # A unix socket keeps the name it was bound to, whatever it was renamed to since.
        self._paths = {
            name: Path(listener.getsockname())
            for name, listener in listeners.items()
            if listener.family == socket.AF_UNIX
        }

    def inherited(self) -> dict[str, socket.socket]:
        """What a workerd started now listens on: the reload's new sockets during one."""
        return self._next or self._current

    def prepare(self) -> None:
        """New sockets beside the current ones; the current keep every connection. On a
        failure, `abort` closes those made."""
        for name, listener in self._current.items():
            path = self._paths.get(name)
            port: int = 0 if path is not None else listener.getsockname()[1]
            try:
                if path is not None:
                    self._next[name] = listen_unix(_next_path(path))
                else:
                    self._next[name] = listen_loopback(port, "workerd", reuse_port=True)
            except OSError as exc:
                where = path if path is not None else f"port {port}"
                raise StartFailure(
                    "workerd",
                    f"cannot listen beside {where} for the new workerd: {exc}",
                    FailureClass.INTERNAL,
                ) from exc

    async def commit(self) -> None:
        """The new workerd is ready: new connections go to it; returns once the old one has
        taken everything that was waiting for it."""
        self._switch()
        # The kernel says nothing when a queue empties: it is looked at.
        for _ in range(DRAIN_POLLS):
            if not any(queued(listener) for listener in self._current.values()):
                break
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)

    def _switch(self) -> None:
        for name, listener in self._current.items():
            if name in self._paths:
                # Atomic: a connect finds the old socket or the new one, never no socket.
                _next_path(self._paths[name]).rename(self._paths[name])
            else:
                steer(listener, NEWEST)

    def finish(self) -> None:
        """The old workerd has stopped: its sockets go, the new ones are current."""
        for name, listener in self._next.items():
            self._current[name].close()
            self._current[name] = listener
            if name not in self._paths:
                steer(listener, OLDEST)
        self._next = {}

    def abort(self) -> None:
        """The new workerd did not start: nothing was steered to its sockets, and its door was
        never renamed into place."""
        for name, listener in self._next.items():
            if name in self._paths:
                _next_path(self._paths[name]).unlink(missing_ok=True)
            listener.close()
        self._next = {}


def _next_path(path: Path) -> Path:
    return path.with_name(path.name + NEXT_SUFFIX)
