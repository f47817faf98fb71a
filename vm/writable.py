"""The per-profile writable disk of the dev-tools image: the overlay's upper layer, kept
across boots in the data dir, bounded by its size (the guest sees ENOSPC, "No space left on
device", when it is full; the host's disk never grows past it).

A sparse raw file formatted as ext4 on the host (`mkfs.ext4`, no root mount needed), owned
by QEMU's user. It belongs to one root file system: what an overlay's upper layer holds
only makes sense over the lower layer it was written on, so a disk made for another root
file system (another package list, a rebuilt image) is set aside and a new one made.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from groundflare.vm.errors import VmUnavailable

log = logging.getLogger("groundflare")
LABEL = "gf-writable"


@dataclass(frozen=True)
class WritableDisk:
    path: Path
    size_mib: int
    rootfs_key: str

    @property
    def marker(self) -> Path:
        return self.path.with_suffix(".json")

    def _matches(self) -> bool:
        try:
            saved = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return bool(
            saved.get("rootfs_key") == self.rootfs_key
            and saved.get("size_mib") == self.size_mib
            and self.path.is_file()
        )

    def ensure(self, owner_uid: int | None) -> None:
        """The disk exists, for this root file system and size, writable by QEMU's user."""
        if self._matches():
            return
        if self.path.exists():
            aside = self.path.with_name(self.path.name + ".old")
            log.warning(
                "the VM's writable disk %s was made for another root file system or size; "
                "it is kept as %s and a new one is made",
                self.path,
                aside,
            )
            self.path.replace(aside)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.unlink(missing_ok=True)
        with tmp.open("wb") as handle:
            handle.truncate(self.size_mib << 20)  # sparse: blocks are used as the guest writes
        mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
        # -m 0: no blocks reserved for root, the sandbox may fill all of it; lazy init keeps
        # the format instant and the file sparse.
        result = subprocess.run(
            [mkfs, "-q", "-F", "-m", "0", "-L", LABEL, "-E",
             "lazy_itable_init=1,lazy_journal_init=1", str(tmp)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise VmUnavailable(
                f"cannot format the VM's writable disk ({result.stderr.strip()}): "
                "run `make vm-host` (installs e2fsprogs)"
            )
        tmp.chmod(0o600)
        if owner_uid is not None:
            os.chown(tmp, owner_uid, -1)
        tmp.replace(self.path)
        self.marker.write_text(
            json.dumps({"rootfs_key": self.rootfs_key, "size_mib": self.size_mib}) + "\n",
            encoding="utf-8",
        )
