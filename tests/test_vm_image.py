"""The guest image from real Debian packages: contents, reproducibility, caching."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from groundflare.vm import build_image, default_cache
from groundflare.vm.image.kernel import has_pvh_note
from groundflare.vm.image.tar import read_cpio
from groundflare.vm.resources import DEFAULT_PACKAGES
from tests.vm_support import dev_tools_image, go_sandbox, quiet, reference_sandbox, vm_image

pytestmark = pytest.mark.slow


def test_the_image_holds_the_pvh_kernel_and_a_minimal_initramfs() -> None:
    image = vm_image()
    with image.kernel.open("rb") as kernel:
        assert has_pvh_note(kernel.read())
    entries = {e.path: e for e in read_cpio(gzip.decompress(image.initrd.read_bytes()))}
    modules = entries["etc/modules"].data.decode().split()
    assert modules == image.manifest["modules"]
    assert modules[:3] == ["virtio_ring", "virtio", "virtio_mmio"] and modules[-1] == "9p"
    assert len(modules) == 11
    for name in modules:
        assert f"lib/modules/{name}.ko" in entries
    assert stat.S_IMODE(entries["init"].mode) == 0o755
    assert entries["opt/sandbox/sandbox"].data == reference_sandbox().read_bytes()
    assert entries["bin/sh"].data == b"busybox"
    assert {e.uid for e in entries.values()} == {0}
    # Built from packages, not the host: the kernel release is the package's.
    assert str(image.manifest["kernel_package"]).endswith(str(image.manifest["kernel_release"]))
    # Small on purpose: every byte is unpacked by an emulated CPU at boot.
    assert image.initrd.stat().st_size < 3_000_000


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    """A second build from scratch (fresh cache, same .debs) is identical."""
    first = vm_image()
    debs = tmp_path / "cache" / "debs"
    debs.mkdir(parents=True)
    for deb in (default_cache() / "debs").glob("*.deb"):
        os.link(deb, debs / deb.name)  # the same files, no second download
    second = build_image(reference_sandbox(), tmp_path / "cache", progress=quiet)
    assert second.key == first.key
    assert second.dir != first.dir
    assert second.initrd.read_bytes() == first.initrd.read_bytes()
    assert second.kernel.read_bytes() == first.kernel.read_bytes()


def test_a_changed_sandbox_rebuilds_and_an_unchanged_one_does_not(tmp_path: Path) -> None:
    first = vm_image()
    again = build_image(reference_sandbox(), default_cache(), progress=quiet)
    assert again.dir == first.dir
    changed = tmp_path / "sandbox"
    shutil.copyfile(reference_sandbox(), changed)
    with changed.open("ab") as handle:
        handle.write(b"\0changed")
    rebuilt = build_image(changed, default_cache(), progress=quiet)
    try:
        assert rebuilt.key != first.key
        assert rebuilt.initrd.read_bytes() != first.initrd.read_bytes()
        assert rebuilt.manifest["sandbox_sha256"] != first.manifest["sandbox_sha256"]
        assert rebuilt.kernel.samefile(first.kernel)  # the kernel layer was reused
    finally:
        shutil.rmtree(rebuilt.dir)


def test_the_dev_tools_image_holds_the_packages_on_a_read_only_root() -> None:
    image = dev_tools_image()
    assert image.rootfs is not None and image.rootfs.stat().st_size > 50_000_000
    with image.rootfs.open("rb") as disk:
        disk.seek(1024)
        assert disk.read(4) == b"\xe2\xe1\xf5\xe0"  # the EROFS superblock's magic
    installed = {line.split("=")[0] for line in image.manifest["installed"]}  # type: ignore[union-attr]
    assert set(DEFAULT_PACKAGES) <= installed
    entries = {e.path: e for e in read_cpio(gzip.decompress(image.initrd.read_bytes()))}
    assert entries["etc/groundflare/image"].data == b"ROOTFS=1\n"
    modules = entries["etc/modules"].data.decode().split()
    for needed in ("virtio_blk", "erofs", "overlay", "ext4"):
        assert needed in modules
    # Dependencies first: busybox insmod resolves nothing.
    assert modules.index("crc32c_generic") < modules.index("libcrc32c") < modules.index("erofs")


def test_the_dev_tools_image_is_reproducible(tmp_path: Path) -> None:
    """Built again from scratch (a fresh cache, the same .debs): the same key and bytes."""
    first = dev_tools_image()
    cache = tmp_path / "cache"
    for folder in ("debs", "debs-rootfs"):
        (cache / folder).mkdir(parents=True)
        for deb in (default_cache() / folder).glob("*.deb"):
            os.link(deb, cache / folder / deb.name)  # the same files, no second download
    second = build_image(go_sandbox(), cache, progress=quiet, packages=list(DEFAULT_PACKAGES))
    assert second.key == first.key
    assert second.manifest["rootfs_key"] == first.manifest["rootfs_key"]
    assert second.initrd.read_bytes() == first.initrd.read_bytes()
    assert second.rootfs is not None and first.rootfs is not None
    assert _sha256(second.rootfs) == _sha256(first.rootfs)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
