"""The start-up sweep of a blob folder: what a crash left half-written goes, nothing else.

Only temp files of our own naming (`blobs/tmp/<FILE_ID>`: values whose write never
finished) are deleted. Everything else the index cannot account for is moved into
`<resource>/quarantine/<UTC time>/`, at the path it had under `blobs/`, so moving it back
restores it: a file a crash left between its rename and the index commit, the files of
an index that was lost, emptied or replaced, stray directories and files, and symbolic
links. Nothing is followed: entries are examined with lstat, and a link is moved as a
link, its target untouched (a sweep that followed one deleted files outside the data
dir). What cannot be moved is left where it is, with a warning. A `blobs` folder that is
itself a link (to another disk, say) is used as it is, and not swept at all.

A lost index cannot be rebuilt from the blob files: a file is a value's bytes under a
random name, while keys, metadata, expirations and every value up to 64 KiB live only
in the index (keys never become paths, by design). So the resource starts empty and
says where its files went; restoring the index from a backup and moving them back
restores the data.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from groundflare.shim.blobs import FILE_ID, BlobDir

log = logging.getLogger("shim")
QUARANTINE = "quarantine"
_SHARD = re.compile(r"[0-9a-f]{2}")


@dataclass
class Swept:
    """What one sweep did, for its log lines."""

    deleted: int = 0
    moved: int = 0
    links: int = 0
    folder: Path | None = None
    left: list[str] = field(default_factory=list)
    unbacked: int = 0  # values the index names whose file is missing


def sweep(blobs: BlobDir, referenced: Iterable[str], label: str, index_was_new: bool) -> None:
    """Delete half-written temp files, move aside what no index row names, then log it.

    `index_was_new`: the index file did not exist (or was empty) before this start.
    """
    if blobs.root.is_symlink():  # someone's choice of disk, perhaps: used, never swept
        log.warning("%s: %s is a symbolic link; the sweep leaves it alone", label, blobs.root)
        return
    keep = set(referenced)
    swept = Swept()
    aside, found = _survey(blobs, keep, swept)
    swept.unbacked = len(keep - found)
    if aside:
        _quarantine(blobs.root, aside, swept)
    _report(label, swept, index_was_new)


def _survey(blobs: BlobDir, keep: set[str], swept: Swept) -> tuple[list[Path], set[str]]:
    """Deletes temp files of ours; returns what to move aside and the referenced files found."""
    root = blobs.root
    if root.exists() and not root.is_dir():
        return [root], set()  # `blobs` is a file: never ours
    aside: list[Path] = []
    found: set[str] = set()
    for entry in _entries(root):
        if entry.name == blobs.tmp.name and entry.is_dir(follow_symlinks=False):
            for inner in _entries(Path(entry.path)):
                if inner.is_file(follow_symlinks=False) and FILE_ID.fullmatch(inner.name):
                    Path(inner.path).unlink()
                    swept.deleted += 1
                else:
                    aside.append(Path(inner.path))
        elif _SHARD.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            for inner in _entries(Path(entry.path)):
                named = inner.name in keep and inner.name[:2] == entry.name
                if named and inner.is_file(follow_symlinks=False):
                    found.add(inner.name)
                else:
                    aside.append(Path(inner.path))
        else:
            aside.append(Path(entry.path))
    return aside, found


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except FileNotFoundError:
        return []


def _quarantine(root: Path, aside: list[Path], swept: Swept) -> None:
    try:
        folder = _new_folder(root.parent / QUARANTINE)
    except OSError as exc:
        swept.left += [f"{path} ({exc.strerror})" for path in aside]
        return
    swept.folder = folder
    for path in aside:
        target = folder / (root.name if path == root else path.relative_to(root))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            is_link = path.is_symlink()
            path.rename(target)  # a link is renamed itself, never its target
        except OSError as exc:
            swept.left.append(f"{path} ({exc.strerror})")
            continue
        swept.moved += 1
        swept.links += is_link


def _new_folder(parent: Path) -> Path:
    """A fresh `quarantine/<UTC time>` folder; a `quarantine` that is a link is not used."""
    if parent.is_symlink():
        raise OSError(errno.ELOOP, f"{parent} is a symbolic link")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder, n = parent / stamp, 1
    while True:
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:  # a second start within the same second
            n += 1
            folder = parent / f"{stamp}-{n}"


def _report(label: str, swept: Swept, index_was_new: bool) -> None:
    if swept.deleted:
        log.info("%s: removed %d half-written temp files", label, swept.deleted)
    if swept.moved:
        links = f", {swept.links} of them symbolic links (not followed)" if swept.links else ""
        if index_was_new:
            log.warning(
                "%s: the index was missing or empty, so this starts empty; its %d blob files%s "
                "were moved to %s. Keys cannot be recovered from blob files (they hold values "
                "only): restore the index from a backup and move them back into blobs/",
                label,
                swept.moved,
                links,
                swept.folder,
            )
        else:
            log.warning(
                "%s: moved %d entries no index row names%s to %s (a crash between a write and "
                "its commit leaves one); nothing was deleted: delete the folder once you know "
                "nothing in it is needed",
                label,
                swept.moved,
                links,
                swept.folder,
            )
    for entry in swept.left:
        log.warning("%s: left %s in blobs/: it could not be moved aside", label, entry)
    if swept.unbacked:
        log.warning(
            "%s: %d values the index names have no blob file; reading them fails",
            label,
            swept.unbacked,
        )
