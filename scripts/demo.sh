#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm and run the demo for real: xfsmd hosts OrderComponent and
# PaymentComponent on D-Bus, xfsmctl drives them, and `xfsmctl watch` prints
# the transitions as they happen. Validating the Order cascades PROCESS to
# every Payment in Pending (the demo component has no matchingRules, as in
# xcomponent-ai).
#
# It runs on a private dbus-daemon (dbus/xfsm-private-bus.conf) in a
# temporary directory: the system bus only lets xfsm own its names once its
# bus policy is installed (the systemd packaging work), and a user who is not
# root may not use it at all.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
xfsm_install_deps
xfsm_build build

X=build/tools/xfsmctl
D=tests/data/xcomponent
dir=$(mktemp -d /tmp/xfsm-demo-XXXXXX)
bus_pid= daemon_pid= watch_pid=
cleanup() {
        [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
        rm -rf "$dir"
}
trap cleanup EXIT INT TERM

echo "== a private bus: dbus-daemon at unix:path=$dir/bus"
dbus-daemon --config-file=dbus/xfsm-private-bus.conf --address="unix:path=$dir/bus" --nofork --nopidfile \
        2>"$dir/bus.log" &
bus_pid=$!
for i in $(seq 100); do [ -S "$dir/bus" ] && break; sleep 0.05; done
BUS="unix:path=$dir/bus"

echo "== xfsmd hosts the two demo components (and examples/fetch-pipeline.yaml)"
build/daemon/xfsmd --bus-address "$BUS" $D/demo-order.yaml $D/demo-payment.yaml examples/fetch-pipeline.yaml \
        2>"$dir/xfsmd.log" &
daemon_pid=$!
for i in $(seq 100); do
        $X --bus "$BUS" list 2>/dev/null | grep -q PaymentComponent && break
        sleep 0.05
done
$X --bus "$BUS" list

echo
echo "== xfsmctl watch (in the background) prints every transition"
$X --bus "$BUS" watch 2>/dev/null &
watch_pid=$!
sleep 0.3

echo "== two Payments wait in Pending, an Order is created"
P1=$($X --bus "$BUS" create PaymentComponent Payment --context '{"orderId":"ORD-1"}')
P2=$($X --bus "$BUS" create PaymentComponent Payment --context '{"orderId":"ORD-2"}')
O=$($X --bus "$BUS" create OrderComponent Order --context '{"orderId":"ORD-1","amount":99.5,"customerId":"CUST-7"}')
echo "   Order $O, Payments $P1 $P2"

echo "== xfsmctl send OrderComponent $O VALIDATE"
$X --bus "$BUS" send OrderComponent "$O" VALIDATE
sleep 0.3
echo "== xfsmctl send OrderComponent $O COMPLETE"
$X --bus "$BUS" send OrderComponent "$O" COMPLETE
sleep 0.3

echo
echo "== xfsmctl instances PaymentComponent"
$X --bus "$BUS" instances PaymentComponent
echo
echo "== xfsmctl show OrderComponent $O"
$X --bus "$BUS" show OrderComponent "$O"
echo
echo "== xfsmctl history OrderComponent $O"
$X --bus "$BUS" history OrderComponent "$O"
echo
echo "== an event with no transition is refused, not dropped"
$X --bus "$BUS" send OrderComponent "$O" VALIDATE || true
echo
echo "== the same objects with busctl"
busctl --address="$BUS" tree org.xfsm1.OrderComponent 2>/dev/null || echo "   (busctl is not installed)"

echo
echo "== an exec step: examples/fetch-pipeline.yaml runs a command and retries it at most 3 times"
echo "   (no systemd here, so xfsmd said at start-up:)"
grep unsandboxed "$dir/xfsmd.log" | sed 's/^/   /'
F1=$($X --bus "$BUS" create FetchPipeline Pipeline --context '{"path":"/etc/os-release"}')
F2=$($X --bus "$BUS" create FetchPipeline Pipeline --context '{"path":"/nonexistent"}')
$X --bus "$BUS" send FetchPipeline "$F1" START > /dev/null
$X --bus "$BUS" send FetchPipeline "$F2" START > /dev/null
sleep 1
echo "== xfsmctl instances FetchPipeline (one Done with its output, one GaveUp after 3 attempts)"
$X --bus "$BUS" instances FetchPipeline
$X --bus "$BUS" show FetchPipeline "$F1" | grep -E 'State|Context'
$X --bus "$BUS" show FetchPipeline "$F2" | grep -E 'State|Context'
