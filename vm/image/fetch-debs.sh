#!/bin/sh
# Download the Debian packages the guest image is made of, without installing them:
#   the kernel (the package linux-image-amd64 currently depends on, or $VM_KERNEL_PACKAGE)
#   and busybox-static. Prints one line per package: NAME VERSION PATH-TO-.deb
# Usage: fetch-debs.sh DEST_DIR (run by vm/image/debs.py; ships in the wheel)   (already-downloaded .debs are reused)
set -eu
DEST=${1:?usage: fetch-debs.sh DEST_DIR}
mkdir -p "$DEST"

kernel_package() {
    if [ -n "${VM_KERNEL_PACKAGE:-}" ]; then echo "$VM_KERNEL_PACKAGE"; return; fi
    apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: *\(linux-image-[0-9].*\)$/\1/p' | head -n1
}

# "NAME VERSION" for each package with a candidate (one apt-cache call: each costs ~0.5 s).
candidates() {
    apt-cache policy "$@" 2>/dev/null | awk '/^[^ ].*:$/ {sub(":$", ""); name=$0}
        /^ *Candidate:/ && $2 != "(none)" {print name, $2}'
}

KERNEL=$(kernel_package)
VERSIONS=$(candidates "$KERNEL" busybox-static)
if [ -z "$KERNEL" ] || [ "$(printf '%s\n' "$VERSIONS" | grep -c .)" -ne 2 ]; then
    # A fresh machine may have no package lists yet.
    echo "vm-fetch-debs: updating apt package lists" >&2
    apt-get update -qq
    KERNEL=$(kernel_package)
    VERSIONS=$(candidates "$KERNEL" busybox-static)
fi
[ -n "$KERNEL" ] || { echo "vm-fetch-debs: apt knows no linux-image-amd64" >&2; exit 1; }

SANDBOX_OPT=""
[ "$(id -u)" -eq 0 ] && SANDBOX_OPT="-o APT::Sandbox::User=root"

for pkg in "$KERNEL" busybox-static; do
    version=$(printf '%s\n' "$VERSIONS" | awk -v p="$pkg" '$1 == p {print $2}')
    [ -n "$version" ] || { echo "vm-fetch-debs: apt has no candidate for $pkg" >&2; exit 1; }
    file_version=$(printf %s "$version" | sed 's/:/%3a/')
    deb=$(ls "$DEST"/"${pkg}_${file_version}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        echo "vm-fetch-debs: downloading $pkg $version" >&2
        (cd "$DEST" && apt-get download -qq $SANDBOX_OPT "$pkg=$version")
        deb=$(ls "$DEST"/"${pkg}_${file_version}"_*.deb | head -n1)
    fi
    echo "$pkg $version $deb"
done
