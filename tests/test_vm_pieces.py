"""The image recipe's pure parts and the readiness probe, without booting anything."""

from __future__ import annotations

import asyncio
import gzip
import stat
import struct

import pytest
from aiohttp import web

from groundflare.vm.health import NotReady, probe, wait_healthy
from groundflare.vm.image.cpio import Entry, archive, compress
from groundflare.vm.image.debs import FetchError, run_tool
from groundflare.vm.image.kernel import KernelError, extract_vmlinux, has_pvh_note
from groundflare.vm.image.modules import ROOTS, load_order, parse_modules_dep
from groundflare.vm.image.tar import read_cpio
from groundflare.vm.launch import Health

# Lines as Debian 12's depmod writes them (deepest dependency last).
MODULES_DEP = """\
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
"""  # noqa: E501


def test_module_order_puts_every_dependency_first() -> None:
    order = [
        p.rsplit("/", 1)[1].removesuffix(".ko") for p in load_order(parse_modules_dep(MODULES_DEP))
    ]
    # The order measured to work on -M microvm (shared/specs/microvm-notes.md, 2.3).
    assert order == [
        "virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net",
        "9pnet", "9pnet_virtio", "netfs", "fscache", "9p",
    ]  # fmt: skip
    assert "virtio-rng" not in " ".join(order)


def test_a_missing_module_names_who_needed_it() -> None:
    table = parse_modules_dep("kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko\n")
    with pytest.raises(KeyError, match=r"9pnet \(needed by 9p"):
        load_order(table, ("9p",))
    assert ROOTS == ("virtio_mmio", "virtio_net", "9pnet_virtio", "9p")


def test_archives_are_byte_for_byte_reproducible() -> None:
    entries = [
        Entry.file("bin/busybox", b"\x7fELF", 0o755),
        Entry.directory("bin"),
        Entry.symlink("bin/sh", "busybox"),
        Entry.char_device("dev/console", 5, 1),
        Entry.directory("dev"),
    ]
    one = compress(archive(entries))
    two = compress(archive(list(reversed(entries))))
    assert one == two
    assert one[4:8] == b"\0\0\0\0"  # gzip MTIME
    parsed = read_cpio(gzip.decompress(one))
    assert [e.path for e in parsed] == ["bin", "bin/busybox", "bin/sh", "dev", "dev/console"]
    console = parsed[-1]
    assert stat.S_ISCHR(console.mode) and console.rdev == (5, 1)
    with pytest.raises(ValueError, match="duplicate"):
        archive([Entry.directory("bin"), Entry.directory("bin")])


def _elf_with_note(name: bytes, note_type: int) -> bytes:
    """A minimal ELF64 with one PT_NOTE segment holding one note."""
    desc = b"\0" * 4
    note = (
        struct.pack("<III", len(name) + 1, len(desc), note_type)
        + name
        + b"\0" * (4 - len(name) % 4)
        + desc
    )
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
    struct.pack_into("<HH", header, 0x36, 56, 1)  # e_phentsize, e_phnum
    phdr = struct.pack("<IIQQQQQQ", 4, 0, 120, 0, 0, len(note), len(note), 4)
    return bytes(header) + phdr + note


def test_the_pvh_entry_note_is_found() -> None:
    assert has_pvh_note(_elf_with_note(b"Xen", 18))
    assert not has_pvh_note(_elf_with_note(b"Xen", 17))
    assert not has_pvh_note(_elf_with_note(b"GNU", 18))
    assert not has_pvh_note(b"MZ not an elf")


def test_vmlinux_is_found_after_a_decoy_xz_stream() -> None:
    import lzma

    elf = _elf_with_note(b"Xen", 18)
    image = b"setup" + lzma.compress(b"not an elf") + b"pad" + lzma.compress(elf) + b"tail"
    assert extract_vmlinux(image) == elf
    with pytest.raises(KernelError):
        extract_vmlinux(b"no payload here")


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_health_needs_a_200_with_the_token() -> None:
    async def health(request: web.Request) -> web.Response:
        ok = request.headers.get("X-Groundflare-Sandbox") == "tok"
        return web.json_response({"ok": ok}, status=200 if ok else 401)

    app = web.Application()
    app.router.add_get("/health", health)
    runner, port = await _serve(app)
    right = Health(port, "X-Groundflare-Sandbox", "tok")
    wrong = Health(port, "X-Groundflare-Sandbox", "wrong")
    try:
        assert await probe(right)
        assert not await probe(wrong)
        assert not await probe(Health(port, "Authorization", "tok"))
        await wait_healthy(right, timeout=30)
        with pytest.raises(NotReady, match="within"):
            await wait_healthy(wrong, timeout=0.3)
    finally:
        await runner.cleanup()


async def test_readiness_fails_fast_when_the_vm_exits() -> None:
    async def exited() -> int:
        await asyncio.sleep(0.1)
        return 1

    with pytest.raises(NotReady, match="exited"):
        await wait_healthy(Health(1, "X-Groundflare-Sandbox", "tok"), timeout=30, exited=exited())


def test_image_tools_never_print_on_stdout_which_is_serves_json_channel(
    capfd: pytest.CaptureFixture[str],
) -> None:
    run_tool(["sh", "-c", "echo unpacked; echo note >&2"])
    assert capfd.readouterr().out == ""
    with pytest.raises(FetchError) as failed:
        run_tool(["sh", "-c", "echo first; echo 'depmod: ERROR: no such kernel' >&2; exit 3"])
    assert str(failed.value) == "sh failed (exit 3): depmod: ERROR: no such kernel"
    assert capfd.readouterr().out == ""
