#!/bin/sh
# Build gf-guest (gf-guest.c beside this script), the guest init's helper, as a static binary
# without libc. Usage: build-gf-guest.sh OUT   (run by vm/image/tools.py; needs gcc: make vm-host)
# Reproducible: no build id, no source paths, so the same source gives the same bytes.
set -eu
OUT=${1:?usage: build-gf-guest.sh OUT}
SRC=$(cd "$(dirname "$0")" && pwd)
command -v gcc >/dev/null || { echo "build-gf-guest: gcc not found: run make vm-host" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
gcc -static -nostdlib -ffreestanding -fno-pie -no-pie -Os -s -Wall -Wextra -Werror -std=gnu11 \
    -fno-stack-protector -fno-asynchronous-unwind-tables \
    -ffile-prefix-map="$SRC"=. -Wl,--build-id=none \
    -o "$OUT.tmp" "$SRC/gf-guest.c"
mv "$OUT.tmp" "$OUT"
