#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run the systemd suite of xfsm in a real systemd: a Debian 12 root file
# system (debootstrap, cached in $XFSM_CONTAINER_CACHE between runs), booted
# with systemd-nspawn as PID 1 of its own container, the built tree installed
# into it, tests/container/suite.sh run inside.
#
#   tests/container/run.sh SOURCE_DIR        (as root)
#
# XFSM_CONTAINER_BUS=dbus-broker boots with dbus-broker as the system bus
# (Fedora's default) instead of dbus-daemon.
#
# Exit 77 (skipped) where this machine cannot boot a container, saying why.
set -euo pipefail

src=$(cd "${1:-.}" && pwd)
cache=${XFSM_CONTAINER_CACHE:-/var/tmp/xfsm-container}
rootfs=$cache/rootfs
state=$(mktemp -d /tmp/xfsm-container-XXXXXX)
name=xfsm-test-$$
cg=nspawn-$name

say() { printf '[container] %s\n' "$*" >&2; }
skip() { say "SKIPPED: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root"
for t in debootstrap systemd-nspawn nsenter; do
        command -v "$t" >/dev/null || skip "$t is not installed (apt-get install debootstrap systemd-container)"
done

# ---- the root file system, built once ---------------------------------------
# what the root file system holds; a change rebuilds it
packages=systemd,systemd-sysv,libpam-systemd,dbus,dbus-broker,polkitd,libyaml-0-2,libjson-c5,zlib1g,libhiredis0.14,libsodium23,perl-base
if ! [ -x "$rootfs/lib/systemd/systemd" ] || [ "$(cat "$rootfs/.xfsm-ready" 2>/dev/null)" != "$packages" ]; then
        mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
        [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
        say "building a Debian 12 root file system in $rootfs (once; about a minute)"
        rm -rf "$rootfs"
        mkdir -p "$cache/debs"
        # libpam-systemd: polkitd and friends need a logind; debootstrap does not resolve virtual packages
        if ! debootstrap --variant=minbase --cache-dir="$cache/debs" \
                --include="$packages" \
                bookworm "$rootfs" "$mirror" > "$cache/debootstrap.log" 2>&1; then
                tail -20 "$cache/debootstrap.log" >&2
                skip "debootstrap failed (no network to the Debian mirror?)"
        fi
        for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
                e2scrub_reap.service fstrim.timer console-getty.service getty@.service; do
                ln -sf /dev/null "$rootfs/etc/systemd/system/$u"
        done
        echo xfsm-test > "$rootfs/etc/hostname"
        echo "$packages" > "$rootfs/.xfsm-ready"
fi

# ---- the built tree, installed under /usr ------------------------------------
say "building xfsm for /usr"
meson setup "$state/build" "$src" --prefix=/usr -Dtests=false > "$state/meson.log" 2>&1 || { cat "$state/meson.log"; exit 1; }
ninja -C "$state/build" > "$state/ninja.log" 2>&1 || { cat "$state/ninja.log"; exit 1; }
DESTDIR="$state/dest" meson install -C "$state/build" --quiet > /dev/null
mkdir -p "$state/dest/etc/xfsm/components" "$state/dest/usr/share/xfsm-tests"
cp "$src/tests/data/xcomponent/demo-order.yaml" "$state/dest/etc/xfsm/components/order.yaml"
cp "$src/tests/data/xcomponent/demo-payment.yaml" "$state/dest/etc/xfsm/components/payment.yaml"
cp "$src/tests/data/durable.yaml" "$state/dest/etc/xfsm/components/counter.yaml"
cp "$src/tests/data/jobs.yaml" "$state/dest/etc/xfsm/components/jobs.yaml"
cp "$src/tests/data/units.yaml" "$state/dest/etc/xfsm/components/units.yaml"
cp "$src/tests/container/bench-exec.yaml" "$state/dest/etc/xfsm/components/benchexec.yaml"
cp "$src/tests/container/suite.sh" "$state/dest/usr/share/xfsm-tests/suite.sh"
# a peer-to-peer client for the worker sockets (busctl speaks only to a bus)
cc -O2 -Wall -Wextra -Werror -o "$state/dest/usr/share/xfsm-tests/peer-call" "$src/tests/container/peer-call.c" \
        $(pkg-config --cflags --libs libsystemd)

# ---- boot ----------------------------------------------------------------------
cg_roots() {
        if [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then
                echo /sys/fs/cgroup/unified
                [ -f /sys/fs/cgroup/systemd/cgroup.procs ] && echo /sys/fs/cgroup/systemd
        elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
                echo /sys/fs/cgroup
        elif [ -f /sys/fs/cgroup/systemd/cgroup.procs ]; then
                echo /sys/fs/cgroup/systemd
        fi
        return 0
}
leader() {
        local np c
        np=$(cat "$state/nspawn.pid" 2>/dev/null) || return 1
        c=$(cat "/proc/$np/task/$np/children" 2>/dev/null) || return 1
        set -- $c
        [ -n "${1:-}" ] && echo "$1"
}
inside() {
        local L
        L=$(leader) || { say "the container is not running"; return 1; }
        nsenter -t "$L" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
stop() {
        local np i=0
        np=$(cat "$state/nspawn.pid" 2>/dev/null) || true
        if [ -n "$np" ] && kill -0 "$np" 2>/dev/null; then
                kill -TERM "$np"
                while kill -0 "$np" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
                kill -KILL "$np" 2>/dev/null || true
        fi
        for r in $(cg_roots); do
                [ -d "$r/$cg" ] && find "$r/$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
        rm -rf "$state"
}
trap stop EXIT

bus=${XFSM_CONTAINER_BUS:-dbus-daemon}
extra=()
# dbus.service in /etc says which one runs (installing dbus-broker made it the
# default in the root file system): bind the chosen unit there, for this boot
case $bus in
dbus-daemon) cp "$rootfs/lib/systemd/system/dbus.service" "$state/dbus.service" ;;
dbus-broker) cp "$rootfs/lib/systemd/system/dbus-broker.service" "$state/dbus.service" ;;
*) say "XFSM_CONTAINER_BUS=$bus: dbus-daemon or dbus-broker"; exit 2 ;;
esac
extra+=(--bind-ro="$state/dbus.service:/etc/systemd/system/dbus.service")
say "the system bus: $bus"

for r in $(cg_roots); do mkdir -p "$r/$cg" 2>/dev/null || true; done
(
        for r in $(cg_roots); do echo "$BASHPID" > "$r/$cg/cgroup.procs" 2>/dev/null || true; done
        exec setsid systemd-nspawn -D "$rootfs" --boot -M "$name" --register=no --keep-unit \
                --console=read-only --volatile=overlay "${extra[@]}" < /dev/null > "$state/console.log" 2>&1
) &
echo $! > "$state/nspawn.pid"
i=0
until L=$(leader 2>/dev/null); do
        kill -0 "$(cat "$state/nspawn.pid")" 2>/dev/null || { cat "$state/console.log" >&2; skip "systemd-nspawn could not boot here"; }
        sleep 0.05; i=$((i + 1)); [ $i -lt 1200 ] || skip "no container leader after 60 s"
done
i=0
# the first child seen may be nspawn's short-lived outer child, not the container's PID 1: look again each time
until L=$(leader 2>/dev/null) && { [ -S "/proc/$L/root/run/dbus/system_bus_socket" ] ||
        [ -S "/proc/$L/root/run/systemd/private" ]; }; do
        kill -0 "$(cat "$state/nspawn.pid")" 2>/dev/null || { cat "$state/console.log" >&2; skip "systemd-nspawn could not boot here"; }
        sleep 0.05; i=$((i + 1)); [ $i -lt 1200 ] || { tail -20 "$state/console.log" >&2; skip "the container did not come up"; }
done
st=$(timeout 60 nsenter -t "$L" -a systemctl is-system-running --wait 2>&1 || true)
say "booted (state $st)"

# ---- install, then the suite ------------------------------------------------------
tar -C "$state/dest" -cf - . | inside tar -C / -xf - --no-same-owner --keep-directory-symlink
inside systemd-sysusers
inside systemctl daemon-reload
inside busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
inside env XFSM_EXPECT_BUS="$bus" bash /usr/share/xfsm-tests/suite.sh
