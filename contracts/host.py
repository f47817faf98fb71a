"""The host OS's process primitives, so that no module needs a POSIX-only one at import time.

The supervisor and its children agree on these: how one process holds a file lock, how a
child starts in its own process group tied to its parent's life, how it is asked to stop
(SIGTERM on POSIX, CTRL_BREAK on Windows) and how it hears that. It lives in `contracts`
because the shim's entry point needs it as much as the supervisor does. Linux is what runs
here; the macOS and Windows branches are unit-tested with `sys.platform` switched
(tests/test_platform.py) and have not run on those hosts yet (docs/desktop.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("groundflare")

# Windows' values; the constants exist in `signal`/`subprocess` only there.
CTRL_BREAK_EVENT = 1
SIGBREAK = 21
CREATE_NEW_PROCESS_GROUP = 0x00000200
PR_SET_PDEATHSIG = 1
# macOS reports an unlimited hard limit but refuses a soft limit above OPEN_MAX.
MACOS_OPEN_MAX = 10240
# Windows locks a byte range; the pid is written before it, so a second instance can read it.
WINDOWS_LOCK_OFFSET = 64


def is_windows() -> bool:
    return sys.platform == "win32"


def try_lock(fd: int) -> bool:
    """An exclusive lock on an open file, without waiting; False when another process holds
    it. The OS releases it when the process dies, however it dies."""
    if is_windows():
        import msvcrt

        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock(fd: int) -> None:
    """An exclusive lock on an open file, waiting for it."""
    if is_windows():
        import msvcrt

        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        os.lseek(fd, 0, os.SEEK_SET)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)


@contextlib.contextmanager
def holding(lock_file: Path) -> Iterator[None]:
    """One process at a time past this point, per lock file (a cache filled by two test
    workers, or by a test run and a `groundflare` command, at once)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        lock(handle.fileno())
        yield


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL us when the parent dies (Linux only)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def child_start_options(die_with_parent: bool = True) -> dict[str, Any]:
    """subprocess/asyncio keyword arguments that start a child in its own process group.

    On Linux it also dies with us (PR_SET_PDEATHSIG) even if we are SIGKILLed; elsewhere a
    child outlives a killed supervisor unless it is stopped through the group
    (docs/desktop.md). `die_with_parent=False` exists for the test that shows stdin's EOF
    alone ends the stack."""
    if is_windows():
        return {"creationflags": CREATE_NEW_PROCESS_GROUP}
    options: dict[str, Any] = {"start_new_session": True}
    if die_with_parent and sys.platform.startswith("linux"):
        options["preexec_fn"] = _die_with_parent
    return options


def ask_group_to_stop(pid: int) -> None:
    """The polite stop of a child started with child_start_options: SIGTERM to its process
    group; on Windows CTRL_BREAK to its console process group (SIGTERM cannot be sent)."""
    with contextlib.suppress(ProcessLookupError):
        if is_windows():
            os.kill(pid, CTRL_BREAK_EVENT)
        else:
            os.killpg(pid, signal.SIGTERM)


def kill_group(pid: int) -> None:
    """The child and everything it started, without asking: SIGKILL to the process group;
    on Windows `taskkill /T /F`, which walks the process tree."""
    if is_windows():
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(pid)], capture_output=True, check=False)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop_signals() -> tuple[int, ...]:
    """What asks a groundflare process to stop: SIGTERM and SIGINT; on Windows CTRL_C and
    CTRL_BREAK, which arrive as SIGINT and SIGBREAK."""
    if is_windows():
        return (signal.SIGINT, getattr(signal, "SIGBREAK", SIGBREAK))
    return (signal.SIGTERM, signal.SIGINT)


def on_stop_signals(
    loop: asyncio.AbstractEventLoop,
    callback: Callable[[], None],
    signums: tuple[int, ...] | None = None,
) -> Callable[[], None]:
    """Run `callback` on the loop when a stop signal (default: stop_signals()) arrives;
    returns the undo.

    POSIX loops take signal handlers; Windows' proactor loop does not, so there a plain
    handler hands the call to the loop's thread."""
    signums = signums or stop_signals()
    if is_windows():

        def handler(signum: int, frame: object) -> None:
            loop.call_soon_threadsafe(callback)

        previous = {signum: signal.signal(signum, handler) for signum in signums}

        def restore() -> None:
            for signum, old in previous.items():
                signal.signal(signum, old)

        return restore
    for signum in signums:
        loop.add_signal_handler(signum, callback)

    def remove() -> None:
        for signum in signums:
            loop.remove_signal_handler(signum)

    return remove


def raise_open_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each binding call in flight holds a socket,
    and the common soft default (1,024; 256 on macOS) is a few busy Workers away. Windows
    has no such limit on sockets."""
    if is_windows():
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MACOS_OPEN_MAX if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
