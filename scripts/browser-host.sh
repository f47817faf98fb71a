#!/bin/sh
# The browsers the explorer's tests drive (tests/test_explorer_browser.py): Debian's chromium
# and firefox-esr, installed with apt; idempotent. Playwright (a dev dependency) drives them
# through executable_path (Firefox over WebDriver BiDi): no browser is ever downloaded by
# Playwright itself.
set -eu
PACKAGES="chromium firefox-esr fonts-dejavu-core"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "browser-host: missing:$missing; run as root (or: sudo $0)" >&2
    exit 1
fi
echo "browser-host: installing$missing" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
