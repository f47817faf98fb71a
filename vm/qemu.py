"""The Linux backend: QEMU `-M microvm` booting the PVH vmlinux, KVM where really usable, else TCG.

Isolation, per shared/specs/microvm-notes.md: user-mode networking with `restrict=on` (the
guest reaches no host port), the sandbox forwarded to one loopback port, exactly one host
service (the control plane) reachable through a `guestfwd` that runs socat per connection,
shares over virtio-9p with `mapped-xattr` (guest chown/chmod/symlinks stay metadata, never
host reality), `readonly=on` for read-only mounts. QEMU runs unprivileged: as root we start
it through setpriv as the dedicated user `groundflare-vm` (no capabilities, no new
privileges, the parent-death signal kept; otherwise setpriv only sets no_new_privs), and
QEMU's own seccomp sandbox is on.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path

from groundflare.vm import accel as accel_mod
from groundflare.vm import snapshot
from groundflare.vm.base import BaseBackend
from groundflare.vm.errors import VmConfigError, VmUnavailable
from groundflare.vm.image import Image
from groundflare.vm.launch import FileToWrite, Health, LaunchSpec, Network, RunAs
from groundflare.vm.mounts import guest_mounts
from groundflare.vm.overlay import GUEST_CONTROLPLANE_URL, GuestConfig, GuestMount
from groundflare.vm.resources import Mount, VmResources
from groundflare.vm.writable import WritableDisk

QEMU = "qemu-system-x86_64"
VM_USER = "groundflare-vm"
KERNEL_NAME = "vmlinux"
INITRD_NAME = "initrd.img"
ROOTFS_NAME = "rootfs.erofs"
WRITABLE_NAME = "writable.img"
CONSOLE_SOCKET = "console.sock"
QMP_NAME = "qmp.sock"
GUEST_CONTROLPLANE = "10.0.2.100:80"
# microvm offers 8 virtio-mmio transports: the NIC takes one, each disk one, each share one.
MAX_TRANSPORTS = 8
KERNEL_CMDLINE = " ".join(
    (
        "console=ttyS0 quiet",  # serial output is slow when emulated: errors only
        "reboot=t panic=-1",  # with -no-reboot, a panic or `reboot -f` ends QEMU
        "tsc=reliable pci=off",  # no clocksource watchdog; microvm has no PCI
        # Boot-time work this guest does not need (measured under TCG, docs/vm.md):
        # crypto self-tests (~0.25 s), the KDF self-test (~0.13 s), loading the kernel's
        # X.509 list (~0.1 s; modules then load unverified, tainting the kernel: they come
        # from the same apt-verified package as the kernel itself), the kprobe, block-I/O
        # and MMIO tracers (~0.08, ~0.1, ~0.02 s), IPv6 (slirp's net is IPv4, ~0.05 s) and
        # the timer-IRQ self-check (~40 ms of busy-waiting).
        "cryptomgr.notests",
        "initcall_blacklist=crypto_kdf108_init,load_system_certificate_list,"
        "init_kprobe_trace,init_blk_tracer,init_mmio_trace",
        "ipv6.disable=1 no_timer_check",
        # With one present CPU the kernel rewrites every LOCK prefix through text_poke, each a
        # page-table switch that flushes TCG's TLB (~0.3 s); keep them (harmless on one CPU).
        "noreplace-smp",
        # QEMU's and KVM's APIC timer runs at 1 GHz: 4,000,000 per jiffy at Debian's HZ=250.
        # Saves the 100 ms calibration loop.
        "lapic_timer_period=4000000",
    )
)


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if Path(p).exists()), None
    )
    if found is None:
        raise VmUnavailable(f"{name} not found: run `make vm-host` (installs the VM host packages)")
    return found


def _loopback_target(url: str) -> tuple[str, int]:
    """host:port of an http:// URL; the guestfwd may only point at this host's loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise VmConfigError(f"control plane URL {url} must be http:// on this host's loopback")
    host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
    return host, parts.port or 80


def run_as_user(euid: int | None = None) -> RunAs | None:
    """None when we are already unprivileged; as root, the dedicated user (or an error)."""
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    try:
        entry = pwd.getpwnam(VM_USER)
    except KeyError:
        raise VmUnavailable(
            f"running as root, QEMU must run as the unprivileged user {VM_USER}, which does "
            "not exist: run `make vm-host` (creates it)"
        ) from None
    return RunAs(VM_USER, entry.pw_uid, entry.pw_gid)


class QemuBackend(BaseBackend):
    name = "qemu"

    def __init__(
        self,
        accel: accel_mod.Accel | None = None,
        run_as: RunAs | bool | None = True,
        tools: dict[str, str] | None = None,
        tsc_khz: int | None = None,
    ) -> None:
        self.accel = accel or accel_mod.detect()
        # True: decide from our own uid; None: run as ourselves; a RunAs: that user.
        self._run_as = run_as
        self._tools = tools
        # Rounded to MHz: it is on the kernel command line, so part of a snapshot's name.
        khz = tsc_khz if tsc_khz is not None else accel_mod.tsc_khz()
        self.tsc_khz = round(khz, -3) if khz else None

    def tool(self, name: str) -> str:
        return self._tools[name] if self._tools is not None else _tool(name)

    def run_as(self) -> RunAs | None:
        return run_as_user() if self._run_as is True else self._run_as or None

    def command(
        self,
        image: Image,
        resources: VmResources,
        mounts: Sequence[Mount],
        network: Network,
        run_dir: Path,
        sandbox_token: str,
        state_dir: Path | None = None,
        snapshots: Path | None = None,
    ) -> LaunchSpec:
        user = self.run_as()
        disk = self._writable_disk(image, resources, state_dir)
        shares = guest_mounts(mounts, MAX_TRANSPORTS - 1 - len(self._disks(image, disk)))
        cp_host, cp_port = _loopback_target(network.controlplane_url)
        contract = resources.sandbox
        guest = GuestConfig(
            controlplane_url=GUEST_CONTROLPLANE_URL,
            sandbox_token=sandbox_token,
            mounts=shares,
            sandbox_uid=user.uid if user else os.getuid(),
            sandbox_gid=user.gid if user else os.getgid(),
            contract=contract,
            writable=resources.writable,
            command=image.command,
        )
        argv = self._argv(
            image,
            resources,
            [(s, _fsdev_path(m.host_path)) for s, m in zip(shares, mounts, strict=True)],
            disk,
            network.sandbox_host_port,
            f"{cp_host}:{cp_port}",
        )
        plan = None
        if snapshots is not None and resources.snapshot:
            # The command line with the per-boot values left out, and what else shapes the
            # saved state: the same name means the saved guest fits this boot's devices.
            shape = self._argv(image, resources, [(share, "-") for share in shares], disk, 0, "-")
            plan = snapshot.plan(
                snapshots,
                snapshot.snapshot_key(
                    {
                        "argv": shape,
                        "qemu": snapshot.binary_identity(argv[0]),
                        "image": image.key,
                        "writable": resources.writable.model_dump(),
                    }
                ),
            )
            if plan.restore:
                argv += ["-incoming", "defer"]
        argv = [*self._setpriv(user), "--", *argv]
        files = [
            FileToWrite(KERNEL_NAME, (image.kernel,), mode=0o644, link=True),
            FileToWrite(INITRD_NAME, (image.initrd,), mode=0o644, link=True),
        ]
        if image.rootfs is not None:
            files.append(FileToWrite(ROOTFS_NAME, (image.rootfs,), mode=0o644, link=True))
        if disk is not None:
            files.append(FileToWrite(WRITABLE_NAME, (disk.path,), mode=0o600, link=True))
        header, value = contract.credential(sandbox_token)
        return LaunchSpec(
            argv=tuple(argv),
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            cwd=run_dir,
            files=tuple(files),
            run_as=user,
            accel=self.accel,
            control_socket=run_dir / QMP_NAME,
            console_socket=run_dir / CONSOLE_SOCKET,
            guest=guest,
            snapshot=plan,
            disks=(disk,) if disk is not None else (),
            health=Health(network.sandbox_host_port, header, value, contract.health_path),
            notes=(f"accelerator: {self.accel.kind} ({self.accel.reason})",),
        )

    @staticmethod
    def _writable_disk(
        image: Image, resources: VmResources, state_dir: Path | None
    ) -> WritableDisk | None:
        if image.rootfs is None or resources.writable.kind != "disk":
            return None
        if state_dir is None:
            raise VmConfigError("a writable disk needs a data dir to keep it in")
        return WritableDisk(
            state_dir / WRITABLE_NAME,
            resources.writable.size_mib,
            str(image.manifest.get("rootfs_key", "")),
        )

    @staticmethod
    def _disks(image: Image, disk: WritableDisk | None) -> list[tuple[str, str, bool]]:
        """(file in the run dir, virtio serial, read-only) of each disk, in device order."""
        found = [(ROOTFS_NAME, "gf-root", True)] if image.rootfs is not None else []
        return found + ([(WRITABLE_NAME, "gf-writable", False)] if disk is not None else [])

    def _argv(
        self,
        image: Image,
        resources: VmResources,
        shares: list[tuple[GuestMount, str]],
        disk: WritableDisk | None,
        host_port: int,
        controlplane: str,
    ) -> list[str]:
        append = KERNEL_CMDLINE
        if self.accel.kind == "tcg" and self.tsc_khz:
            append += f" tsc_early_khz={self.tsc_khz}"
        socat = f"{self.tool('socat')} STDIO TCP:{controlplane}"
        netdev = (
            "user,id=n0,restrict=on,"
            f"hostfwd=tcp:127.0.0.1:{host_port}-:{resources.sandbox.port},"
            f"guestfwd=tcp:{GUEST_CONTROLPLANE}-cmd:{socat}"
        )
        argv = [
            self.tool(QEMU),
            "-name", "groundflare-sandbox",
            "-M", "microvm",
            *(["-accel", "kvm", "-cpu", "host"] if self.accel.kind == "kvm" else ["-accel", "tcg"]),
            "-m", str(resources.memory_mib),
            "-smp", str(resources.cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            # seccomp. Spawning stays allowed (guestfwd's cmd: runs socat); so does set*id,
            # which the socat spawn needs and which cannot elevate anyway: setpriv leaves QEMU
            # no capabilities, no bounding set and no_new_privs.
            "-sandbox", "on,obsolete=deny,resourcecontrol=deny",
            # The console: QEMU waits for the host to connect (vm/console.py) before it runs
            # the guest, so no line is lost; the host sends the guest its key on it.
            "-chardev", f"socket,id=console,path={CONSOLE_SOCKET},server=on,wait=on",
            "-serial", "chardev:console",
            "-qmp", f"unix:{QMP_NAME},server=on,wait=off",
            "-kernel", KERNEL_NAME,
            "-initrd", INITRD_NAME,
            "-append", append,
            "-netdev", netdev,
            "-device", "virtio-net-device,netdev=n0",
        ]  # fmt: skip
        for name, serial, read_only in self._disks(image, disk):
            argv += [
                "-drive",
                f"file={name},if=none,id={serial},format=raw"
                + (",readonly=on" if read_only else ",discard=unmap"),
                "-device",
                f"virtio-blk-device,drive={serial},serial={serial}",
            ]
        for share, path in shares:
            readonly = ",readonly=on" if share.read_only else ""
            argv += [
                "-fsdev",
                f"local,id={share.tag},path={path},security_model=mapped-xattr{readonly}",
                "-device",
                f"virtio-9p-device,fsdev={share.tag},mount_tag={share.tag}",
            ]
        return argv

    def _setpriv(self, user: RunAs | None) -> list[str]:
        """As root: become the VM user with nothing extra. Always: no new privileges."""
        if user is None:
            return [self.tool("setpriv"), "--no-new-privs"]
        groups = ["--clear-groups"]
        if self.accel.kind == "kvm":
            kvm_gid = _kvm_gid()
            groups = [f"--groups={kvm_gid}"] if kvm_gid is not None else groups
        return [
            self.tool("setpriv"),
            f"--reuid={user.uid}",
            f"--regid={user.gid}",
            *groups,
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            # Changing uid clears the parent-death signal; keep it so QEMU dies with us.
            "--pdeathsig=keep",
        ]


def _kvm_gid() -> int | None:
    try:
        return Path("/dev/kvm").stat().st_gid
    except OSError:
        return None


def _fsdev_path(path: Path) -> str:
    """QEMU's option syntax doubles commas in values."""
    return str(path.resolve()).replace(",", ",,")
