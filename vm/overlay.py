"""This boot's guest configuration: what the guest must know and nobody else may see.

A few files under etc/groundflare/ in a newc archive: QEMU's guest receives it over the
serial console once booted, with a fresh RNG seed and the time (vm/key.py), so a snapshot of
the booted guest holds none of it; the other hosts' backends append it, gzip'd, to the
initramfs. Either way it carries the sandbox's internal token, its contract and the mounts
without any of them appearing on a host command line.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from groundflare.vm.image.cpio import Entry, archive, compress
from groundflare.vm.resources import SandboxContract, TokenByFile, Writable

# Inside the guest the control plane is this address (a QEMU guestfwd, or its equivalent).
GUEST_CONTROLPLANE_URL = "http://10.0.2.100"
# Where the sandbox's files are in the guest (its binary, or its folder's contents).
SANDBOX_DIR = "/opt/sandbox"


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
    contract: SandboxContract = field(default_factory=SandboxContract)
    writable: Writable = field(default_factory=Writable)
    # The executable, relative to SANDBOX_DIR (the image recipe decides where it put it).
    command: str = "sandbox"


def _config_text(config: GuestConfig) -> str:
    token = config.contract.token
    values = {
        "CONTROLPLANE_URL": config.controlplane_url,
        "SANDBOX_UID": str(config.sandbox_uid),
        "SANDBOX_GID": str(config.sandbox_gid),
        "SANDBOX_COMMAND": f"{SANDBOX_DIR}/{config.command}",
        "TOKEN_VIA": token.via,
        "TOKEN_NAME": token.path if isinstance(token, TokenByFile) else token.name,
        "WRITABLE_KIND": config.writable.kind,
        "WRITABLE_MIB": str(config.writable.size_mib),
    }
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


def _mounts_text(mounts: tuple[GuestMount, ...]) -> str:
    # Parents before children, so /workspace/a/b is mounted inside /workspace/a.
    ordered = sorted(mounts, key=lambda m: m.guest_path.count("/"))
    return "".join(f"{m.tag} {'ro' if m.read_only else 'rw'} {m.guest_path}\n" for m in ordered)


def overlay_entries(config: GuestConfig) -> list[Entry]:
    contract = config.contract
    return [
        Entry.file("etc/groundflare/config", _config_text(config).encode(), 0o600),
        Entry.file("etc/groundflare/mounts", _mounts_text(config.mounts).encode(), 0o600),
        Entry.file("etc/groundflare/args", "".join(f"{a}\n" for a in contract.args).encode()),
        Entry.file(
            "etc/groundflare/env",
            "".join(f"{k}={v}\n" for k, v in sorted(contract.env.items())).encode(),
            0o600,
        ),
        Entry.file("etc/groundflare/sandbox_token", config.sandbox_token.encode() + b"\n", 0o400),
    ]


def overlay(config: GuestConfig) -> bytes:
    """The gzip'd cpio to append after the base initramfs (backends without a console)."""
    return compress(archive(overlay_entries(config)))
