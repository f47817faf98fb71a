#!/bin/sh
# Starts the sandbox (PID 1's second half: sourced by init in the initramfs, or run in the
# dev-tools root after switch_root). $1: this boot's configuration folder; $2: busybox, by
# full path, as the dev-tools root has no busybox of its own.
#
# The sandbox runs as the uid/gid QEMU runs as on the host, so host permissions mean the same
# on both sides of a shared folder, under no_new_privs (setpriv --nnp), with the token handed
# over as the profile says: on a file descriptor (the file is deleted first: no file, argv
# or environment holds it), in an environment variable, or in a file only its uid can read.
# When the sandbox exits, the VM powers off: the host sees QEMU exit and restarts it.
GF=$1
BB=$2
say() { echo "groundflare-init: $*"; }
uptime_s() { read -r t _ </proc/uptime; echo "$t"; }

. "$GF/config"
if [ "$BB" = /bin/busybox ]; then
    home=/tmp
    path=/bin
else
    home=/home/sandbox
    path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    $BB mkdir -p $home
    $BB chown "$SANDBOX_UID:$SANDBOX_GID" $home
fi
# The sandbox's account (a kept writable disk already has one: replace it).
[ "$BB" = /bin/busybox ] || $BB sed -i '/^sandbox:/d' /etc/passwd /etc/group
echo "sandbox:x:$SANDBOX_UID:$SANDBOX_GID:sandbox:$home:/bin/sh" >>/etc/passwd
echo "sandbox:x:$SANDBOX_GID:" >>/etc/group

case "$TOKEN_VIA" in
fd)
    exec 3<"$GF/sandbox_token"
    $BB rm -f "$GF/sandbox_token"
    ;;
env)
    read -r token <"$GF/sandbox_token"
    $BB rm -f "$GF/sandbox_token"
    ;;
file)
    $BB mkdir -p "${TOKEN_NAME%/*}"
    $BB mv "$GF/sandbox_token" "$TOKEN_NAME"
    $BB chown "$SANDBOX_UID:$SANDBOX_GID" "$TOKEN_NAME"
    $BB chmod 0400 "$TOKEN_NAME"
    ;;
esac

# The environment is only what the sandbox is given (env -i), then its arguments.
set -- HOME=$home PATH=$path GROUNDFLARE_CONTROLPLANE_URL="$CONTROLPLANE_URL"
case "$TOKEN_VIA" in
fd) set -- "$@" "$TOKEN_NAME=3" ;;
env) set -- "$@" "$TOKEN_NAME=$token" ;;
esac
while IFS= read -r pair; do set -- "$@" "$pair"; done <"$GF/env"
# start-stop-daemon -c: initgroups, setgid, setuid, then exec (same pid); --nnp first.
set -- "$@" $BB setpriv --nnp $BB start-stop-daemon -S -c "$SANDBOX_UID:$SANDBOX_GID" \
    -x "$SANDBOX_COMMAND" --
while IFS= read -r arg; do set -- "$@" "$arg"; done <"$GF/args"
cd /workspace
$BB env -i "$@" &
sandbox=$!
exec 3<&-
unset token
say "sandbox started (pid $sandbox) at $(uptime_s) s"

# PID 1 reaps orphans (wait does) and stops the VM when the sandbox is gone.
while kill -0 "$sandbox" 2>/dev/null; do wait; done
say "sandbox exited; powering off"
$BB poweroff -f
