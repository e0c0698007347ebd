# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by tests/container/run.sh and run-two.sh (sourced, bash): the root
# file system, the build installed into a staging tree, and booting,
# entering and stopping systemd-nspawn containers.
#
# The caller sets: src (the source tree), state (its scratch directory),
# cache (where the root file system is kept), rootfs ($cache/rootfs).

say() { printf '[container] %s\n' "$*" >&2; }
skip() { say "SKIPPED: $*"; exit 77; }

container_check_tools() {
        [ "$(id -u)" = 0 ] || skip "needs root"
        local t
        for t in debootstrap systemd-nspawn nsenter; do
                command -v "$t" >/dev/null || skip "$t is not installed (apt-get install debootstrap systemd-container)"
        done
}

# ---- the root file system, built once ---------------------------------------
# what the root file system holds; a change rebuilds it
packages=systemd,systemd-sysv,libpam-systemd,dbus,dbus-broker,polkitd,libyaml-0-2,libjson-c5,zlib1g,libhiredis0.14,libsodium23,libmicrohttpd12,libgvc6,curl,perl-base
container_rootfs() {
        if ! [ -x "$rootfs/lib/systemd/systemd" ] || [ "$(cat "$rootfs/.xfsm-ready" 2>/dev/null)" != "$packages" ]; then
                local mirror u
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
}

# ---- the built tree, installed under /usr into $state/dest --------------------
container_build() {
        say "building xfsm for /usr"
        meson setup "$state/build" "$src" --prefix=/usr -Dtests=false > "$state/meson.log" 2>&1 || { cat "$state/meson.log"; exit 1; }
        ninja -C "$state/build" > "$state/ninja.log" 2>&1 || { cat "$state/ninja.log"; exit 1; }
        DESTDIR="$state/dest" meson install -C "$state/build" --quiet > /dev/null
        mkdir -p "$state/dest/etc/xfsm/components" "$state/dest/usr/share/xfsm-tests"
}

# ---- containers ------------------------------------------------------------------
# A container is named by its pid file (the systemd-nspawn process's pid).
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
# container_leader PIDFILE: the container's PID 1 as the host sees it
container_leader() {
        local np c
        np=$(cat "$1" 2>/dev/null) || return 1
        c=$(cat "/proc/$np/task/$np/children" 2>/dev/null) || return 1
        set -- $c
        [ -n "${1:-}" ] && echo "$1"
}
# container_inside PIDFILE CMD...: CMD in all the container's namespaces, a clean environment
container_inside() {
        local L pf=$1
        shift
        L=$(container_leader "$pf") || { say "the container is not running"; return 1; }
        nsenter -t "$L" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
# container_stop PIDFILE CGROUP: a clean shutdown (SIGTERM to nspawn), killed after 30 s; its cgroups removed
container_stop() {
        local np i=0 r
        np=$(cat "$1" 2>/dev/null) || true
        if [ -n "$np" ] && kill -0 "$np" 2>/dev/null; then
                kill -TERM "$np"
                while kill -0 "$np" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
                kill -KILL "$np" 2>/dev/null || true
        fi
        for r in $(cg_roots); do
                [ -d "$r/$2" ] && find "$r/$2" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
        return 0
}
# container_boot PIDFILE CGROUP MACHINE CONSOLE_LOG [NSPAWN ARGS...]: boots $rootfs
# (--volatile=overlay) in the background and waits until its bus is up; skips
# (77) when this machine cannot boot it. Sets L to the leader.
container_boot() {
        local pf=$1 cgn=$2 machine=$3 console=$4 r i
        shift 4
        for r in $(cg_roots); do mkdir -p "$r/$cgn" 2>/dev/null || true; done
        (
                for r in $(cg_roots); do echo "$BASHPID" > "$r/$cgn/cgroup.procs" 2>/dev/null || true; done
                exec setsid systemd-nspawn -D "$rootfs" --boot -M "$machine" --register=no --keep-unit \
                        --console=read-only --volatile=overlay "$@" < /dev/null > "$console" 2>&1
        ) &
        echo $! > "$pf"
        i=0
        until L=$(container_leader "$pf" 2>/dev/null); do
                kill -0 "$(cat "$pf")" 2>/dev/null || { cat "$console" >&2; skip "systemd-nspawn could not boot here"; }
                sleep 0.05; i=$((i + 1)); [ $i -lt 1200 ] || skip "no container leader after 60 s"
        done
        i=0
        # the first child seen may be nspawn's short-lived outer child, not the container's PID 1: look again each time
        until L=$(container_leader "$pf" 2>/dev/null) && { [ -S "/proc/$L/root/run/dbus/system_bus_socket" ] ||
                [ -S "/proc/$L/root/run/systemd/private" ]; }; do
                kill -0 "$(cat "$pf")" 2>/dev/null || { cat "$console" >&2; skip "systemd-nspawn could not boot here"; }
                sleep 0.05; i=$((i + 1)); [ $i -lt 1200 ] || { tail -20 "$console" >&2; skip "the container did not come up"; }
        done
}
# container_install PIDFILE: the staging tree $state/dest installed, users made, units and bus policy read again
container_install() {
        tar -C "$state/dest" -cf - . | container_inside "$1" tar -C / -xf - --no-same-owner --keep-directory-symlink
        container_inside "$1" systemd-sysusers
        container_inside "$1" systemctl daemon-reload
        container_inside "$1" busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
}
