#!/bin/sh
# Build gosandbox (the Go test sandbox beside this script) with Debian's Go, static and
# reproducible: CGO off, no paths, no build id, no VCS stamp, no network (GOPROXY=off).
# Usage: build.sh OUT   (run by vm/go_sandbox.py; needs golang-go: make vm-host)
set -eu
OUT=${1:?usage: build.sh OUT}
SRC=$(cd "$(dirname "$0")" && pwd)
command -v go >/dev/null || { echo "gosandbox build: go not found: run make vm-host" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
cd "$SRC"
CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on \
    go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
