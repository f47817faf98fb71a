#!/bin/sh
# Host packages the microVM needs (docs/vm.md), installed with apt; idempotent.
#   qemu-system-x86  runs the guest (TCG or KVM)
#   busybox-static   the guest's userland (copied into the image)
#   cpio, kmod       pack the initramfs; depmod reads the kernel's module dependencies
#   socat            the guestfwd command that connects the guest to the control plane
#   gcc, libc6-dev   build the reference sandbox (vm/sandbox/sandbox.c, static)
#   util-linux       setpriv, which starts QEMU as an unprivileged user
#   mmdebstrap       builds the dev-tools image's Debian root file system from packages
#   erofs-utils      packs that root file system into a read-only EROFS disk (no root mounts)
#   e2fsprogs        formats the per-profile writable disk (mkfs.ext4, no root mounts)
#   golang-go        Debian's Go: builds the Go test sandbox (vm/gosandbox/)
# Also creates the system user QEMU runs as when groundflare itself runs as root.
set -eu
PACKAGES="qemu-system-x86 busybox-static cpio kmod socat gcc libc6-dev util-linux mmdebstrap erofs-utils e2fsprogs golang-go"
VM_USER=groundflare-vm

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "vm-host-packages: missing:$missing; run as root (or: sudo $0)" >&2
        exit 1
    fi
    echo "vm-host-packages: installing$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$(id -u)" -eq 0 ] && ! id -u "$VM_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$VM_USER"
    echo "vm-host-packages: created system user $VM_USER" >&2
fi
