#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm and run the whole test suite: unit and integration tests (meson
# test), then, as root, the systemd suite in a booted container
# (tests/container/run.sh: xfsm@.service, xfsm@.socket, bus activation,
# kill -9 and restarts of real units, polkit), once on dbus-daemon and once
# on dbus-broker; then two nodes, two booted containers joined by their Redis
# bridges through a redis-server on the host, through a matrix of faults
# (tests/container/run-two.sh).
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
# redis-server: the bridge's tests start their own on a loopback port
if [ "$(id -u)" = 0 ]; then
        xfsm_install_deps redis-server debootstrap systemd-container polkitd python3 $XFSM_HTTP_TEST_DEPS
else
        xfsm_install_deps redis-server
fi
xfsm_build build
meson test -C build --print-errorlogs

if [ "${XFSM_SKIP_CONTAINER:-0}" = 1 ]; then
        echo "xfsm: the systemd container suite is SKIPPED (XFSM_SKIP_CONTAINER=1)" >&2
        exit 0
fi
# twice: with dbus-daemon (Debian's system bus) and with dbus-broker (Fedora's)
for bus in dbus-daemon dbus-broker; do
        echo "== the systemd suite, in a container booted with systemd-nspawn, system bus $bus"
        rc=0
        XFSM_CONTAINER_BUS=$bus bash tests/container/run.sh . || rc=$?
        if [ "$rc" = 77 ]; then
                echo "xfsm: the systemd container suite ($bus) was SKIPPED (see the reason above)" >&2
        elif [ "$rc" != 0 ]; then
                echo "xfsm: the systemd container suite ($bus) FAILED" >&2
                exit "$rc"
        fi
done

echo "== two nodes, two containers booted with systemd-nspawn, joined through Redis"
rc=0
bash tests/container/run-two.sh . || rc=$?
if [ "$rc" = 77 ]; then
        echo "xfsm: the two-node container suite was SKIPPED (see the reason above)" >&2
elif [ "$rc" != 0 ]; then
        echo "xfsm: the two-node container suite FAILED" >&2
        exit "$rc"
fi
