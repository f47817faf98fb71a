"""The guest kernel: the uncompressed ELF `vmlinux` out of Debian's bzImage.

QEMU's microvm boots an ELF with a PVH entry note directly; under TCG that saves the
~2.4 s the bzImage's xz decompressor costs when emulated (shared/specs/microvm-notes.md).
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

XZ_MAGIC = b"\xfd7zXZ\x00"
ELF_MAGIC = b"\x7fELF"
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry point note


class KernelError(Exception):
    """The kernel package does not hold what the microVM boots."""


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The first xz stream in the image that decompresses to an ELF (the payload)."""
    offset = bzimage.find(XZ_MAGIC)
    while offset != -1:
        try:
            out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[offset:])
        except lzma.LZMAError:
            out = b""
        if out.startswith(ELF_MAGIC):
            return out
        offset = bzimage.find(XZ_MAGIC, offset + 1)
    raise KernelError("no xz-compressed ELF payload in the kernel image")


def has_pvh_note(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF has a Xen PVH entry note (what -kernel needs)."""
    if elf[:4] != ELF_MAGIC or elf[4] != 2:
        return False
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", elf, 0x20)[0],
        *struct.unpack_from("<HH", elf, 0x36),
    )
    for index in range(phnum):
        base = phoff + index * phentsize
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, base)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, note_type = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and note_type == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def vmlinux_from(bzimage_path: Path) -> bytes:
    elf = extract_vmlinux(bzimage_path.read_bytes())
    if not has_pvh_note(elf):
        raise KernelError(
            f"{bzimage_path}: the kernel has no PVH entry note; microvm cannot boot it"
        )
    return elf
