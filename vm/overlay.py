"""The per-boot initramfs overlay: what this boot's guest must know and nobody else may see.

Appended to the cached base image as a second gzip'd cpio (the kernel unpacks both), it
carries the control-plane URL, the mounts and the sandbox's internal token into the guest
without any of them appearing on a host command line.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from groundflare.vm.image.cpio import Entry, archive, compress

# Inside the guest the control plane is this address (a QEMU guestfwd, or its equivalent).
GUEST_CONTROLPLANE_URL = "http://10.0.2.100"
GUEST_SANDBOX_PORT = 8080


@dataclass(frozen=True)
class GuestMount:
    tag: str  # the 9p mount tag (virtiofs tag on macOS)
    guest_path: str
    read_only: bool


@dataclass(frozen=True)
class GuestConfig:
    controlplane_url: str
    sandbox_token: str
    mounts: tuple[GuestMount, ...]
    sandbox_uid: int
    sandbox_gid: int


def _config_text(config: GuestConfig) -> str:
    values = {
        "CONTROLPLANE_URL": config.controlplane_url,
        "SANDBOX_UID": str(config.sandbox_uid),
        "SANDBOX_GID": str(config.sandbox_gid),
    }
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


def _mounts_text(mounts: tuple[GuestMount, ...]) -> str:
    # Parents before children, so /workspace/a/b is mounted inside /workspace/a.
    ordered = sorted(mounts, key=lambda m: m.guest_path.count("/"))
    return "".join(f"{m.tag} {'ro' if m.read_only else 'rw'} {m.guest_path}\n" for m in ordered)


def overlay_entries(config: GuestConfig) -> list[Entry]:
    return [
        Entry.file("etc/groundflare/config", _config_text(config).encode(), 0o600),
        Entry.file("etc/groundflare/mounts", _mounts_text(config.mounts).encode(), 0o600),
        Entry.file("etc/groundflare/sandbox_token", config.sandbox_token.encode() + b"\n", 0o400),
    ]


def overlay(config: GuestConfig) -> bytes:
    """The gzip'd cpio to append after the base initramfs."""
    return compress(archive(overlay_entries(config)))
