#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Two xfsm nodes as two booted systemd containers joined by their Redis
# bridges through one redis-server on the host: the bridge's guarantees
# (exactly once in effect, in order) proven with the real units
# (xfsm@.service, xfsm-redis-bridge.service) through crashes, restarts, Redis
# going away and a node cut off or rebooted. tests/container/suite-two.sh
# (sourced at the end) is the fault matrix.
#
#   tests/container/run-two.sh SOURCE_DIR        (as root)
#
# Both containers boot from run.sh's root file system (--volatile=overlay,
# distinct machine names) and share the host's network namespace. Each node
# reaches Redis through its own relay on the host's loopback
# (tests/container/relay.py), which the test pauses to cut the node off.
# What must survive a container restart is bound from $state/NODE:
# /var/lib/xfsm, /var/lib/xfsm-bridge and /etc/xfsm (keys, nodes.d,
# bridge.conf, components).
#
# Exit 77 (skipped) where this machine cannot boot a container or has no
# redis-server, saying why.
set -euo pipefail

src=$(cd "${1:-.}" && pwd)
cache=${XFSM_CONTAINER_CACHE:-/var/tmp/xfsm-container}
rootfs=$cache/rootfs
state=$(mktemp -d /tmp/xfsm-two-XXXXXX)
nodes="nodeA nodeB"

. "$src/tests/container/lib.sh"
container_check_tools
command -v redis-server >/dev/null || skip "redis-server is not installed (apt-get install redis-server)"
command -v python3 >/dev/null || skip "python3 is not installed (the relays)"

container_rootfs
container_build
cp "$src/tests/container/send-stream.sh" "$state/dest/usr/share/xfsm-tests/send-stream.sh"

# ---- Redis on the host, one relay per node -----------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
mkdir -p "$state/redis"
rcli() { redis-cli -p "$redis_port" "$@"; }
redis_start() {
        redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$state/redis" --appendonly yes \
                --appendfsync always --save "" --maxmemory-policy noeviction --daemonize no \
                >> "$state/redis.log" 2>&1 &
        echo $! > "$state/redis.pid"
        local i
        for i in $(seq 200); do [ "$(rcli ping 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
        say "redis-server did not start"; tail "$state/redis.log" >&2; return 1
}
redis_kill() {
        local p
        p=$(cat "$state/redis.pid")
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
}
redis_start

declare -A relay_port
relay_start() {
        relay_port[$1]=$(free_port)
        python3 "$src/tests/container/relay.py" "${relay_port[$1]}" "$redis_port" "$state/relay-$1.pid" \
                >> "$state/relay-$1.log" 2>&1 &
        local i
        for i in $(seq 100); do [ -s "$state/relay-$1.pid" ] && return 0; sleep 0.05; done
        say "the relay of $1 did not start"; return 1
}
relay_pause() { kill -USR1 "$(cat "$state/relay-$1.pid")"; }
relay_resume() { kill -USR2 "$(cat "$state/relay-$1.pid")"; }
for n in $nodes; do relay_start "$n"; done

# ---- the nodes ------------------------------------------------------------------------
pidfile() { echo "$state/$1.nspawn.pid"; }
cgroup_of() { echo "nspawn-xfsm-two-$$-$1"; }
on() { local n=$1; shift; container_inside "$(pidfile "$n")" "$@"; }
stem_of() { case $1 in nodeA) echo sender ;; nodeB) echo receiver ;; esac; }

cleanup() {
        local n p
        for n in $nodes; do container_stop "$(pidfile "$n")" "$(cgroup_of "$n")"; done
        for p in "$state"/relay-*.pid "$state/redis.pid"; do
                [ -s "$p" ] && kill -TERM "$(cat "$p")" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        [ "${XFSM_TEST_KEEP:-0}" = 1 ] && say "kept $state" || rm -rf "$state"
}
trap cleanup EXIT

# the system bus: dbus-daemon (run.sh's default), bound over the image's dbus-broker default
cp "$rootfs/lib/systemd/system/dbus.service" "$state/dbus.service"
for n in $nodes; do
        mkdir -p "$state/$n/lib" "$state/$n/bridge" "$state/$n/etc/nodes.d" "$state/$n/etc/credentials" \
                "$state/$n/etc/components"
done

node_boot() {
        local n=$1 d=$state/$1 st
        container_boot "$(pidfile "$n")" "$(cgroup_of "$n")" "xfsm-two-$$-$n" "$state/$n.console.log" \
                --bind-ro="$state/dbus.service:/etc/systemd/system/dbus.service" \
                --bind="$d/lib:/var/lib/xfsm" --bind="$d/bridge:/var/lib/xfsm-bridge" --bind="$d/etc:/etc/xfsm"
        st=$(timeout 60 nsenter -t "$L" -a systemctl is-system-running --wait 2>&1 || true)
        say "$n booted (state $st)"
}
node_stop() { container_stop "$(pidfile "$1")" "$(cgroup_of "$1")"; }

# installed (again after a reboot: the overlay forgot it), configured, started
node_setup() {
        local n=$1 d=$state/$1 stem
        stem=$(stem_of "$n")
        container_install "$(pidfile "$n")"
        # the tree's shipped bridge.conf was just installed over the bound /etc/xfsm: ours again
        printf '[Bridge]\nNode=%s\nRedis=redis://127.0.0.1:%s\n' "$n" "${relay_port[$n]}" > "$d/etc/bridge.conf"
        case $n in
        nodeA) cp "$src/tests/data/stream-sender.yaml" "$d/etc/components/sender.yaml" ;;
        nodeB) cp "$src/tests/data/stream-receiver.yaml" "$d/etc/components/receiver.yaml" ;;
        esac
        on "$n" xfsmctl enable "$stem" > /dev/null
        on "$n" busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
}
node_start() {
        on "$1" systemctl start xfsm-redis-bridge.service "xfsm@$(stem_of "$1").service"
}
# the node's bridge knows where COMPONENT lives
bridge_knows() {
        on "$1" busctl call org.xfsm1.Bridge /org/xfsm1/Bridge org.freedesktop.DBus.Introspectable Introspect \
                2>/dev/null | grep -q "node name=.*$2"
}
wait_bridges() {
        local i
        for i in $(seq 300); do
                bridge_knows nodeA StreamReceiver && bridge_knows nodeB StreamSender && return 0
                sleep 0.1
        done
        return 1
}

t0=$(date +%s)
for n in $nodes; do node_boot "$n"; done
for n in $nodes; do
        node_setup "$n"
        on "$n" sh -c '[ -f /etc/xfsm/credentials/node-key ] ||
                { /usr/libexec/xfsm-redis-bridge --generate-key /etc/xfsm/credentials/node > /dev/null &&
                  mv /etc/xfsm/credentials/node.key /etc/xfsm/credentials/node-key; }'
done
for n in $nodes; do
        for m in $nodes; do cp "$state/$n/etc/credentials/node.pub" "$state/$m/etc/nodes.d/$n.pub"; done
done
for n in $nodes; do node_start "$n"; done
wait_bridges || { for n in $nodes; do on "$n" journalctl --no-pager -n 30 -u xfsm-redis-bridge.service; done; exit 1; }
say "both nodes up, bridges joined ($(($(date +%s) - t0)) s)"
# from here a container that does not come back (node B rebooted) is a failure, not a skip
skip() { say "FAILED: $*"; exit 1; }

. "$src/tests/container/suite-two.sh"
. "$src/tests/container/suite-two-calls.sh"
exit "$failed"
