"""This boot's key: the guest configuration (vm/overlay.py) with a fresh RNG seed and the
time, as the one console line the guest init waits for (gf-guest key):

    GFKEY <time, ns since the epoch> <seed, hex> <base64 of a newc archive> <its CRC-32, hex>

It is made at the moment it is sent, so every boot of one snapshot gets its own seed and
the current time; the guest checks the CRC, so a damaged line is waited past, and the host
sends it again when init does not acknowledge it (`keyed`) in time.
"""

from __future__ import annotations

import base64
import os
import time
import zlib

from groundflare.vm.image.cpio import archive
from groundflare.vm.overlay import GuestConfig, overlay_entries

WORD = b"GFKEY"
SEED_BYTES = 64
WAITING = "groundflare-init: waiting for the key"
KEYED = "groundflare-init: keyed at"


def key_line(config: GuestConfig, seed: bytes | None = None, now_ns: int | None = None) -> bytes:
    payload = archive(overlay_entries(config))
    fields = (
        WORD,
        b"%d" % (time.time_ns() if now_ns is None else now_ns),
        (os.urandom(SEED_BYTES) if seed is None else seed).hex().encode(),
        base64.b64encode(payload),
        b"%08x" % zlib.crc32(payload),
    )
    return b" ".join(fields) + b"\n"
