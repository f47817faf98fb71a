"""The image's files as a tar (what `wsl --import` takes), from its newc cpio archives."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zlib
from collections.abc import Iterator

from groundflare.vm.image.cpio import MAGIC, MTIME, TRAILER, Entry


def gzip_members(data: bytes) -> Iterator[bytes]:
    """Each gzip member of a concatenation, decompressed."""
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        yield decompressor.decompress(data)
        data = decompressor.unused_data.lstrip(b"\0")


def read_cpio(archive: bytes) -> list[Entry]:
    """Parse newc archives (several may follow each other); later entries replace earlier."""
    entries: dict[str, Entry] = {}
    pos = 0
    while pos + 110 <= len(archive):
        if archive[pos : pos + 6] != MAGIC:
            pos += 1  # padding between concatenated archives
            continue
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, uid, gid, size = fields[1], fields[2], fields[3], fields[6]
        namesize = fields[11]
        name_start = pos + 110
        name = archive[name_start : name_start + namesize - 1].decode()
        data_start = name_start + namesize + (-(110 + namesize) % 4)
        data = archive[data_start : data_start + size]
        pos = data_start + size + (-size % 4)
        if name != TRAILER:
            entries[name] = Entry(name, mode, data, uid, gid, (fields[9], fields[10]))
    return list(entries.values())


def cpio_gz_to_tar(data: bytes) -> bytes:
    """A reproducible tar.gz of the entries of one or more gzip'd cpio archives."""
    entries: dict[str, Entry] = {}
    for member in gzip_members(data):
        for entry in read_cpio(member):
            entries[entry.path] = entry
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(entries, key=lambda p: p.split("/")):
            entry = entries[path]
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = (
                stat.S_IMODE(entry.mode),
                entry.uid,
                entry.gid,
                MTIME,
            )
            if stat.S_ISDIR(entry.mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(entry.mode):
                info.type, info.linkname = tarfile.SYMTYPE, entry.data.decode()
                tar.addfile(info)
            elif stat.S_ISCHR(entry.mode):
                info.type, (info.devmajor, info.devminor) = tarfile.CHRTYPE, entry.rdev
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return gzip.compress(out.getvalue(), compresslevel=6, mtime=MTIME)
