"""Profile mounts as the guest will see them: checked, tagged, ordered."""

from __future__ import annotations

from collections.abc import Sequence

from groundflare.vm.errors import VmConfigError
from groundflare.vm.overlay import GuestMount
from groundflare.vm.resources import Mount

TAG_PREFIX = "gf"


def guest_mounts(mounts: Sequence[Mount], limit: int) -> tuple[GuestMount, ...]:
    """One tag per mount (gf0, gf1, ...); folders must exist; guest paths must not repeat."""
    if len(mounts) > limit:
        raise VmConfigError(f"{len(mounts)} mounts, but this backend supports at most {limit}")
    seen: set[str] = set()
    out = []
    for index, mount in enumerate(mounts):
        if not mount.host_path.is_dir():
            raise VmConfigError(f"mount {mount.host_path} is not a folder on this host")
        if any(ch in mount.guest_path for ch in "\n\0"):
            raise VmConfigError(f"mount guest path {mount.guest_path!r} has a newline or NUL")
        if mount.guest_path in seen:
            raise VmConfigError(f"two mounts share the guest path {mount.guest_path}")
        seen.add(mount.guest_path)
        out.append(GuestMount(f"{TAG_PREFIX}{index}", mount.guest_path, mount.read_only))
    return tuple(out)
