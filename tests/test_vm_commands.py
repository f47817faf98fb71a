"""The command lines each backend builds: isolation flags, resources, mounts, no secrets."""

from __future__ import annotations

import base64
import gzip
import io
import json
import stat
import tarfile
import zlib
from pathlib import Path

import pytest

from groundflare.profile import Mount, VmResources
from groundflare.vm import Image, Network, backend_for_host
from groundflare.vm.accel import Accel
from groundflare.vm.errors import VmConfigError, VmUnavailable
from groundflare.vm.image.cpio import archive
from groundflare.vm.image.tar import read_cpio
from groundflare.vm.key import key_line
from groundflare.vm.launch import Health, RunAs
from groundflare.vm.qemu import QemuBackend, run_as_user
from groundflare.vm.resources import SandboxContract, TokenByEnv
from groundflare.vm.vfkit import VfkitBackend
from groundflare.vm.wsl import WslBackend

TOKEN = "s3cr3t-token-value-0123456789"
TOOLS = {"qemu-system-x86_64": "/q/qemu", "socat": "/q/socat", "setpriv": "/q/setpriv"}
TCG = Accel("tcg", "test")
KVM = Accel("kvm", "test")
NETWORK = Network(sandbox_host_port=41000, controlplane_url="http://127.0.0.1:8787")


@pytest.fixture
def image(tmp_path: Path) -> Image:
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "vmlinux").write_bytes(b"\x7fELF-kernel")
    (folder / "initramfs.cpio.gz").write_bytes(gzip.compress(archive([]), mtime=0))
    (folder / "image.json").write_text(json.dumps({"key": "k"}))
    return Image.load(folder)


@pytest.fixture
def shares(tmp_path: Path) -> list[Mount]:
    (tmp_path / "src").mkdir()
    (tmp_path / "out").mkdir()
    return [
        Mount(host_path=tmp_path / "src", guest_path="/workspace/src", read_only=True),
        Mount(host_path=tmp_path / "out", guest_path="/workspace/out", read_only=False),
    ]


def qemu(accel: Accel = TCG, run_as: RunAs | None = None) -> QemuBackend:
    return QemuBackend(accel=accel, run_as=run_as, tools=TOOLS, tsc_khz=2100000)


def after(argv: tuple[str, ...], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_qemu_microvm_under_tcg(image: Image, shares: list[Mount], tmp_path: Path) -> None:
    launch = qemu().command(
        image, VmResources(cpus=2, memory_mib=768), shares, NETWORK, tmp_path / "run", TOKEN
    )
    argv = launch.argv
    assert argv[:3] == ("/q/setpriv", "--no-new-privs", "--")
    assert argv[3] == "/q/qemu"
    assert after(argv, "-M") == ["microvm"]
    assert after(argv, "-accel") == ["tcg"]
    assert "-cpu" not in argv
    assert (after(argv, "-m"), after(argv, "-smp")) == (["768"], ["2"])
    assert "tsc_early_khz=2100000" in after(argv, "-append")[0]
    assert after(argv, "-kernel") == ["vmlinux"] and after(argv, "-initrd") == ["initrd.img"]
    # The console is a socket QEMU waits on before it runs the guest: no line is lost.
    assert after(argv, "-chardev") == ["socket,id=console,path=console.sock,server=on,wait=on"]
    assert after(argv, "-serial") == ["chardev:console"]
    assert launch.console_socket == tmp_path / "run" / "console.sock"
    assert launch.cwd == tmp_path / "run"
    assert "-incoming" not in argv  # no snapshot store: a cold boot


def test_qemu_uses_kvm_with_the_host_cpu_only_when_usable(image: Image, tmp_path: Path) -> None:
    argv = qemu(KVM).command(image, VmResources(), [], NETWORK, tmp_path, TOKEN).argv
    assert after(argv, "-accel") == ["kvm"]
    assert after(argv, "-cpu") == ["host"]
    assert "tsc_early_khz" not in after(argv, "-append")[0]


def test_qemu_network_is_restricted_to_one_forward_and_one_host_service(
    image: Image, tmp_path: Path
) -> None:
    argv = qemu().command(image, VmResources(), [], NETWORK, tmp_path, TOKEN).argv
    (netdev,) = after(argv, "-netdev")
    options = netdev.split(",")
    assert "restrict=on" in options
    assert "hostfwd=tcp:127.0.0.1:41000-:8080" in options
    (guestfwd,) = [o for o in options if o.startswith("guestfwd=")]
    assert guestfwd == "guestfwd=tcp:10.0.2.100:80-cmd:/q/socat STDIO TCP:127.0.0.1:8787"
    assert after(argv, "-device")[0] == "virtio-net-device,netdev=n0"


def test_qemu_refuses_a_control_plane_off_this_host(image: Image, tmp_path: Path) -> None:
    network = Network(41000, "http://192.0.2.1:8787")
    with pytest.raises(VmConfigError, match="loopback"):
        qemu().command(image, VmResources(), [], network, tmp_path, TOKEN)


def test_qemu_shares_over_9p_mapped_xattr_read_only_where_asked(
    image: Image, shares: list[Mount], tmp_path: Path
) -> None:
    argv = qemu().command(image, VmResources(), shares, NETWORK, tmp_path / "run", TOKEN).argv
    assert after(argv, "-fsdev") == [
        f"local,id=gf0,path={shares[0].host_path},security_model=mapped-xattr,readonly=on",
        f"local,id=gf1,path={shares[1].host_path},security_model=mapped-xattr",
    ]
    assert after(argv, "-device")[1:] == [
        "virtio-9p-device,fsdev=gf0,mount_tag=gf0",
        "virtio-9p-device,fsdev=gf1,mount_tag=gf1",
    ]


def test_qemu_as_root_runs_as_the_vm_user_without_privileges(image: Image, tmp_path: Path) -> None:
    user = RunAs("groundflare-vm", 999, 995)
    launch = qemu(run_as=user).command(image, VmResources(), [], NETWORK, tmp_path, TOKEN)
    setpriv = launch.argv[: launch.argv.index("--")]
    assert setpriv == (
        "/q/setpriv",
        "--reuid=999",
        "--regid=995",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--pdeathsig=keep",
    )
    assert launch.run_as == user
    assert "-sandbox" in launch.argv


def test_root_without_the_vm_user_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    def missing(name: str) -> None:
        raise KeyError(name)

    monkeypatch.setattr(pwd, "getpwnam", missing)
    with pytest.raises(VmUnavailable, match="make vm-host"):
        run_as_user(euid=0)
    assert run_as_user(euid=1000) is None


def test_secrets_travel_only_in_the_key_line_never_argv_env_or_files(
    image: Image, shares: list[Mount], tmp_path: Path
) -> None:
    launch = qemu().command(image, VmResources(), shares, NETWORK, tmp_path / "run", TOKEN)
    assert not any(TOKEN in arg for arg in launch.argv)
    assert not any(TOKEN in value for value in launch.env.values())
    launch.prepare()
    run = tmp_path / "run"
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert not any(TOKEN.encode() in p.read_bytes() for p in run.iterdir() if p.is_file())
    assert (run / "vmlinux").read_bytes() == image.kernel.read_bytes()
    assert launch.guest is not None
    word, time_ns, seed, payload, crc = key_line(launch.guest).split()
    assert word == b"GFKEY" and int(time_ns) > 0 and len(seed) == 128
    archive_bytes = base64.b64decode(payload)
    assert int(crc, 16) == zlib.crc32(archive_bytes)
    files = {e.path: e for e in read_cpio(archive_bytes)}
    token_file = files["etc/groundflare/sandbox_token"]
    assert token_file.data == TOKEN.encode() + b"\n"
    assert stat.S_IMODE(token_file.mode) == 0o400
    assert files["etc/groundflare/mounts"].data == b"gf0 ro /workspace/src\ngf1 rw /workspace/out\n"
    assert b"CONTROLPLANE_URL=http://10.0.2.100\n" in files["etc/groundflare/config"].data
    assert all(path.startswith("etc/groundflare/") for path in files)


def test_every_key_line_has_its_own_seed(image: Image, tmp_path: Path) -> None:
    launch = qemu().command(image, VmResources(), [], NETWORK, tmp_path, TOKEN)
    assert launch.guest is not None
    seeds = {key_line(launch.guest).split()[2] for _ in range(3)}
    assert len(seeds) == 3


def test_the_contract_sets_the_forwarded_port_and_the_health_credential(
    image: Image, tmp_path: Path
) -> None:
    contract = SandboxContract(
        port=4000, token=TokenByEnv(name="SANDBOX_INTERNAL_TOKEN"), header="Authorization",
        scheme="Bearer", health_path="/healthz", args=["--port", "4000"],
    )  # fmt: skip
    launch = qemu().command(image, VmResources(sandbox=contract), [], NETWORK, tmp_path, TOKEN)
    (netdev,) = after(launch.argv, "-netdev")
    assert "hostfwd=tcp:127.0.0.1:41000-:4000" in netdev.split(",")
    assert launch.health == Health(41000, "Authorization", f"Bearer {TOKEN}", "/healthz")
    assert launch.guest is not None
    files = {e.path: e for e in read_cpio(base64.b64decode(key_line(launch.guest).split()[3]))}
    config = files["etc/groundflare/config"].data.decode()
    assert "TOKEN_VIA=env\n" in config and "TOKEN_NAME=SANDBOX_INTERNAL_TOKEN\n" in config
    assert files["etc/groundflare/args"].data == b"--port\n4000\n"


def test_a_snapshot_is_taken_first_then_restored(image: Image, tmp_path: Path) -> None:
    store = tmp_path / "snapshots"
    first = qemu().command(
        image, VmResources(), [], NETWORK, tmp_path / "a", TOKEN, snapshots=store
    )
    assert first.snapshot is not None and not first.snapshot.restore
    assert "-incoming" not in first.argv
    first.snapshot.path.parent.mkdir(parents=True)
    first.snapshot.path.write_bytes(b"saved")
    # Another port, another control plane, another token: the same snapshot fits.
    other = Network(sandbox_host_port=42000, controlplane_url="http://127.0.0.1:9999")
    again = qemu().command(
        image, VmResources(), [], other, tmp_path / "b", "other", snapshots=store
    )
    assert again.snapshot is not None and again.snapshot.restore
    assert again.snapshot.key == first.snapshot.key
    assert after(again.argv, "-incoming") == ["defer"]
    # What the saved guest was booted with is part of its name.
    for changed in (VmResources(memory_mib=768), VmResources(cpus=2)):
        launch = qemu().command(image, changed, [], NETWORK, tmp_path / "c", TOKEN, snapshots=store)
        assert launch.snapshot is not None and launch.snapshot.key != first.snapshot.key
    off = qemu().command(
        image, VmResources(snapshot=False), [], NETWORK, tmp_path / "d", TOKEN, snapshots=store
    )
    assert off.snapshot is None and "-incoming" not in off.argv


def test_the_number_of_shares_is_part_of_the_snapshot_but_their_folders_are_not(
    image: Image, shares: list[Mount], tmp_path: Path
) -> None:
    store = tmp_path / "snapshots"

    def key(mounts: list[Mount]) -> str:
        launch = qemu().command(
            image, VmResources(), mounts, NETWORK, tmp_path, TOKEN, snapshots=store
        )
        assert launch.snapshot is not None
        return launch.snapshot.key

    moved = [m.model_copy(update={"host_path": tmp_path}) for m in shares]
    assert key(shares) == key(moved)
    assert key(shares) != key(shares[:1])


def test_mount_problems_are_config_errors(image: Image, tmp_path: Path) -> None:
    missing = [Mount(host_path=tmp_path / "nope", guest_path="/workspace/x")]
    with pytest.raises(VmConfigError, match="not a folder"):
        qemu().command(image, VmResources(), missing, NETWORK, tmp_path, TOKEN)
    twice = [Mount(host_path=tmp_path, guest_path="/workspace/x")] * 2
    with pytest.raises(VmConfigError, match="share the guest path"):
        qemu().command(image, VmResources(), twice, NETWORK, tmp_path, TOKEN)
    many = [Mount(host_path=tmp_path, guest_path=f"/workspace/{i}") for i in range(8)]
    with pytest.raises(VmConfigError, match="at most 7"):
        qemu().command(image, VmResources(), many, NETWORK, tmp_path, TOKEN)


def test_vfkit_builds_a_vsock_only_vm_and_its_relays(
    image: Image, shares: list[Mount], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    launch = VfkitBackend(vfkit="/v/vfkit", socat="/v/socat").command(
        image, VmResources(cpus=2, memory_mib=1024), shares, NETWORK, run, TOKEN
    )
    argv = launch.argv
    assert argv[0] == "/v/vfkit"
    assert (after(argv, "--cpus"), after(argv, "--memory")) == (["2"], ["1024"])
    assert after(argv, "--bootloader")[0].startswith(f"linux,kernel={run}/vmlinux,initrd={run}/")
    devices = after(argv, "--device")
    assert not any(d.startswith("virtio-net") for d in devices)  # no NIC at all
    assert f"virtio-vsock,port=8080,socketURL={run}/sandbox.sock,connect" in devices
    assert f"virtio-vsock,port=80,socketURL={run}/controlplane.sock,listen" in devices
    assert f"virtio-fs,sharedDir={shares[0].host_path},mountTag=gf0" in devices
    assert after(argv, "--restful-uri") == [f"unix://{run}/vfkit.sock"]
    sandbox_relay, controlplane_relay = (c.argv for c in launch.companions)
    assert sandbox_relay == (
        "/v/socat",
        "TCP-LISTEN:41000,bind=127.0.0.1,reuseaddr,fork",
        f"UNIX-CONNECT:{run}/sandbox.sock",
    )
    assert controlplane_relay[1:] == (
        f"UNIX-LISTEN:{run}/controlplane.sock,fork,mode=600",
        "TCP:127.0.0.1:8787",
    )
    assert not any(TOKEN in a for spec in (launch, *launch.companions) for a in spec.argv)


def test_wsl_imports_a_distribution_with_windows_access_off(
    image: Image, shares: list[Mount], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    launch = WslBackend(wsl="wsl.exe").command(
        image, VmResources(cpus=3), shares, NETWORK, run, TOKEN
    )
    assert launch.setup[1][:4] == (
        "wsl.exe",
        "--import",
        "groundflare-sandbox",
        str(run / "distribution"),
    )
    assert launch.argv[:5] == ("wsl.exe", "--distribution", "groundflare-sandbox", "--user", "root")
    assert not any(TOKEN in a for a in launch.argv)
    launch.prepare()
    conf = (run / "wsl.conf").read_text()
    assert "[automount]\nenabled = false" in conf
    assert "[interop]\nenabled = false\nappendWindowsPath = false" in conf
    assert "processors=3" in (run / "wslconfig.suggested").read_text()
    with tarfile.open(fileobj=io.BytesIO((run / "rootfs.tar.gz").read_bytes())) as tar:
        names = tar.getnames()
        token = tar.extractfile("etc/groundflare/sandbox_token")
        assert token is not None and token.read() == TOKEN.encode() + b"\n"
    assert "etc/groundflare/config" in names


def test_backend_for_each_host() -> None:
    assert type(backend_for_host("darwin")).__name__ == "VfkitBackend"
    assert type(backend_for_host("win32")).__name__ == "WslBackend"
    with pytest.raises(VmUnavailable):
        backend_for_host("sunos5")


def test_prepare_clears_the_sockets_of_the_previous_boot(image: Image, tmp_path: Path) -> None:
    run = tmp_path / "run"
    launch = qemu().command(image, VmResources(), [], NETWORK, run, TOKEN)
    launch.prepare()
    (run / "qmp.sock").write_text("stale")
    (run / "console.sock").write_text("stale")
    launch.prepare()
    assert not (run / "qmp.sock").exists()
    assert not (run / "console.sock").exists()
