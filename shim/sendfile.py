"""File bytes onto a non-blocking socket with sendfile(2), so a stored body never passes
through Python: from the event loop while the file is in the page cache and the socket takes
it, else from a worker thread."""

from __future__ import annotations

import os
import select
from pathlib import Path

SENDFILE_TIMEOUT_SECONDS = 60.0


def sendfile_cached(fd: int, path: Path, offset: int, count: int) -> int:
    """On the event loop: as much of the span as the socket takes now, when the file's pages
    are in the page cache (RWF_NOWAIT reads of its first and last byte say so; else nothing is
    sent, so a disk read never blocks the loop). The bytes sent."""
    with path.open("rb") as source:
        probe = bytearray(1)
        try:
            for at in (offset, offset + count - 1):
                if os.preadv(source.fileno(), [probe], at, os.RWF_NOWAIT) != 1:
                    return 0
            return os.sendfile(fd, source.fileno(), offset, count)
        except OSError:
            # EAGAIN (the socket is full, the page not cached), or an error the worker
            # thread meets again and reports.
            return 0


def sendfile(fd: int, path: Path, offset: int, count: int) -> None:
    """On a worker thread: `count` bytes of `path` onto the (non-blocking) socket `fd`."""
    with path.open("rb") as source:
        while count > 0:
            try:
                sent = os.sendfile(fd, source.fileno(), offset, count)
            except BlockingIOError:
                _, writable, _ = select.select([], [fd], [], SENDFILE_TIMEOUT_SECONDS)
                if not writable:
                    raise TimeoutError("the client stopped reading") from None
                continue
            if sent == 0:
                raise OSError(f"{path} ended {count} bytes early")
            offset += sent
            count -= sent
