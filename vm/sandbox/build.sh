#!/bin/sh
# Build the reference sandbox (vm/sandbox/sandbox.c: a test fixture and demo) as a static binary.
# Usage: build.sh OUT   (run by vm/reference_sandbox.py; ships in the wheel beside sandbox.c)
#   (needs gcc and libc6-dev: make vm-host)
# Reproducible: no build id, no source paths, so the same source gives the same bytes.
set -eu
OUT=${1:?usage: build.sh OUT}
SRC=$(cd "$(dirname "$0")" && pwd)
command -v gcc >/dev/null || { echo "vm-build-sandbox: gcc not found: run make vm-host" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
gcc -static -O2 -s -Wall -Wextra -Werror -std=gnu11 \
    -ffile-prefix-map="$SRC"=. -Wl,--build-id=none \
    -o "$OUT.tmp" "$SRC/sandbox.c"
mv "$OUT.tmp" "$OUT"
