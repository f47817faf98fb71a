"""Secrets for a child process over an inherited pipe: never argv, never the environment.

A token in the environment stays readable in `/proc/PID/environ` for the life of
the process, even after `os.environ.pop`. A pipe is read once and closed.
"""

from __future__ import annotations

import os

import orjson

SECRETS_FD_PLACEHOLDER = "{secrets_fd}"
# Everything is written before the child starts: it must fit the pipe's buffer.
MAX_SECRETS_BYTES = 16 * 1024


def secrets_pipe(values: dict[str, str]) -> int:
    """A pipe holding `values` as JSON; returns the read end for the child to inherit."""
    data = orjson.dumps(values)
    if len(data) > MAX_SECRETS_BYTES:
        raise ValueError(f"secrets for a child exceed {MAX_SECRETS_BYTES} bytes")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)
    finally:
        os.close(write_fd)
    return read_fd


def read_secrets(fd: int) -> dict[str, str]:
    """In the child: the secrets the supervisor wrote, read to the end; the fd is closed."""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    values = orjson.loads(b"".join(chunks))
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise ValueError("secrets pipe: expected a JSON object of strings")
    return values
