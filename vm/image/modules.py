"""Which kernel modules the guest loads, in an order that satisfies modules.dep.

Debian builds virtio, virtio-net and 9p as modules, and busybox insmod resolves no
dependencies, so the image carries the closure of a few roots, dependencies first.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

# What the guest needs on `-M microvm`: the virtio-mmio transport, the NIC, the 9p shares.
ROOTS = ("virtio_mmio", "virtio_net", "9pnet_virtio", "9p")
# The dev-tools image also needs its disks: virtio-blk, the read-only EROFS root, the overlay,
# ext4 for the per-profile writable disk, and a crc32c for the last two (libcrc32c asks the
# crypto API for one, and this guest has no modprobe to load it on demand).
DEVTOOLS_ROOTS = (*ROOTS, "virtio_blk", "crc32c_generic", "erofs", "overlay", "ext4")


def module_name(path: str) -> str:
    """kernel/net/9p/9pnet_virtio.ko -> 9pnet_virtio (modprobe's spelling: '-' is '_')."""
    return PurePosixPath(path).name.removesuffix(".ko").replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (path relative to the module dir, the paths it depends on)."""
    table: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, _, deps = line.partition(":")
        table[module_name(path)] = (path.strip(), deps.split())
    return table


def load_order(
    table: dict[str, tuple[str, list[str]]], roots: tuple[str, ...] = ROOTS
) -> list[str]:
    """Module paths, each after everything it depends on (depth first, deterministic)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name not in table:
            needed_by = " <- ".join(chain) or "the guest"
            raise KeyError(f"module {name} (needed by {needed_by}) is not in modules.dep")
        seen.add(name)
        path, deps = table[name]
        # modules.dep lists the deepest dependency last; modprobe loads from the end.
        for dep in reversed(deps):
            visit(module_name(dep), (name, *chain))
        order.append(path)

    for root in roots:
        visit(root, ())
    return order


def modules_dir(root: Path) -> Path:
    """The single lib/modules/<version> folder of an unpacked kernel package."""
    found = sorted((root / "lib" / "modules").iterdir())
    if len(found) != 1:
        raise ValueError(f"expected one kernel version under {root}/lib/modules, found {found}")
    return found[0]
