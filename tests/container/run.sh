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

. "$src/tests/container/lib.sh"
container_check_tools

# ---- the root file system, built once ---------------------------------------
container_rootfs

# ---- the built tree, installed under /usr ------------------------------------
container_build
cp "$src/tests/data/xcomponent/demo-order.yaml" "$state/dest/etc/xfsm/components/order.yaml"
cp "$src/tests/data/xcomponent/demo-payment.yaml" "$state/dest/etc/xfsm/components/payment.yaml"
cp "$src/tests/data/durable.yaml" "$state/dest/etc/xfsm/components/counter.yaml"
cp "$src/tests/data/jobs.yaml" "$state/dest/etc/xfsm/components/jobs.yaml"
cp "$src/tests/data/units.yaml" "$state/dest/etc/xfsm/components/units.yaml"
cp "$src/tests/container/bench-exec.yaml" "$state/dest/etc/xfsm/components/benchexec.yaml"
cp "$src/tests/container/suite.sh" "$state/dest/usr/share/xfsm-tests/suite.sh"
# the benchmarks are built, not installed: the suite runs xfsm-bench exec from here
cp "$state/build/tools/xfsm-bench" "$state/dest/usr/share/xfsm-tests/xfsm-bench"
# a peer-to-peer client for the worker sockets (busctl speaks only to a bus)
cc -O2 -Wall -Wextra -Werror -o "$state/dest/usr/share/xfsm-tests/peer-call" "$src/tests/container/peer-call.c" \
        $(pkg-config --cflags --libs libsystemd)

# ---- boot ----------------------------------------------------------------------
leader() { container_leader "$state/nspawn.pid"; }
inside() { container_inside "$state/nspawn.pid" "$@"; }
stop() {
        container_stop "$state/nspawn.pid" "$cg"
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

container_boot "$state/nspawn.pid" "$cg" "$name" "$state/console.log" "${extra[@]}"
st=$(timeout 60 nsenter -t "$L" -a systemctl is-system-running --wait 2>&1 || true)
say "booted (state $st)"

# ---- install, then the suite ------------------------------------------------------
container_install "$state/nspawn.pid"
inside env XFSM_EXPECT_BUS="$bus" bash /usr/share/xfsm-tests/suite.sh
