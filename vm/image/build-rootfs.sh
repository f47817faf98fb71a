#!/bin/sh
# The dev-tools image's root file system, from Debian's packages, with this host's apt
# sources and package lists (so what `resolve` prints is what `build` installs).
#
#   build-rootfs.sh resolve PACKAGE...
#       the packages an essential system plus PACKAGE... would hold, one NAME=VERSION a
#       line, sorted (apt-get --simulate against an empty dpkg status; nothing installed)
#   build-rootfs.sh build OUT.erofs DEBS_DIR EPOCH PACKAGE...
#       mmdebstrap (variant essential + PACKAGE..., no docs, man pages or locales) into a
#       temporary folder next to OUT, then mkfs.erofs (lz4hc, every time EPOCH, a fixed
#       UUID): the same lists and packages give the same bytes. .debs are kept in DEBS_DIR
#       and reused; on stdout: the installed packages, NAME=VERSION a line.
#
# Needs root (mmdebstrap --mode=root), mmdebstrap and erofs-utils (make vm-host). No loop
# mounts: mkfs.erofs packs the folder directly.
set -eu
UUID=67726f75-6e64-666c-6172-652d726f6f74  # "groundflare-root"

sources() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -s "$f" ] && echo "$f"
    done
    return 0
}

resolve() {
    status=$(mktemp)
    trap 'rm -f "$status"' EXIT
    simulate() {
        apt-get --simulate -o Dir::State::status="$status" -o APT::Install-Recommends=false \
            install '?essential' "$@" 2>&1
    }
    out=$(simulate "$@") || {
        # A fresh machine may have no package lists yet.
        echo "build-rootfs: updating apt package lists" >&2
        apt-get update -qq
        out=$(simulate "$@") || { printf '%s\n' "$out" >&2; exit 1; }
    }
    printf '%s\n' "$out" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' | LC_ALL=C sort
}

build() {
    OUT=$1 DEBS=$2 EPOCH=$3
    shift 3
    [ "$(id -u)" -eq 0 ] || { echo "build-rootfs: needs root (mmdebstrap --mode=root)" >&2; exit 1; }
    command -v mmdebstrap >/dev/null && command -v mkfs.erofs >/dev/null ||
        { echo "build-rootfs: mmdebstrap or mkfs.erofs missing: run make vm-host" >&2; exit 1; }
    mkdir -p "$DEBS" "$(dirname "$OUT")"
    DEBS=$(cd "$DEBS" && pwd)
    work=$(mktemp -d "$(dirname "$OUT")/.rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    include=$(printf '%s,' "$@")
    # shellcheck disable=SC2046
    SOURCE_DATE_EPOCH=$EPOCH mmdebstrap --mode=root --variant=essential --include="${include%,}" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --skip=update --skip=essential/unlink \
        --setup-hook='mkdir -p "$1/var/lib/apt/lists/partial" "$1/var/cache/apt/archives/partial"' \
        --setup-hook='cp /var/lib/apt/lists/*_InRelease /var/lib/apt/lists/*_Packages* "$1/var/lib/apt/lists/"' \
        --setup-hook="find '$DEBS' -name '*.deb' -exec cp -t \"\$1/var/cache/apt/archives/\" {} +" \
        --customize-hook="find \"\$1/var/cache/apt/archives\" -name '*.deb' -exec cp -n -t '$DEBS' {} +" \
        --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package}=\${Version}\n' | LC_ALL=C sort >'$work/installed'" \
        "$(. /etc/os-release && echo "$VERSION_CODENAME")" "$work/root" $(sources) >&2
    echo "build-rootfs: packing $(du -sm "$work/root" | cut -f1) MB into EROFS (lz4hc)" >&2
    mkfs.erofs --quiet -zlz4hc -x-1 -T"$EPOCH" -U"$UUID" "$work/out.erofs" "$work/root" >&2
    mv "$work/out.erofs" "$OUT"
    cat "$work/installed"
}

case "${1:-}" in
resolve) shift; resolve "$@" ;;
build) shift; build "$@" ;;
*) echo "usage: build-rootfs.sh resolve PACKAGE... | build OUT.erofs DEBS_DIR EPOCH PACKAGE..." >&2; exit 2 ;;
esac
