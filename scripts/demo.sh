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
#
# Then xfsm-http, xcomponent-ai's REST API and the dashboard, on the same bus:
# the seed's curl walkthrough (xfsm-http(8)).
#
# Then the same cascade across two nodes on this machine: node A (its own
# private bus, xfsmd hosting OrderComponent, xfsm-redis-bridge) and node B
# (the same with PaymentComponent), joined through a redis-server the script
# starts on a free loopback port (xfsm-redis-bridge(8)). Everything it starts
# is stopped, and its temporary directory removed, on exit.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
# redis-server: the two-node part starts its own; curl: the REST walkthrough
if [ "$(id -u)" = 0 ]; then
        xfsm_install_deps redis-server curl
else
        xfsm_install_deps
fi
xfsm_build build

X=build/tools/xfsmctl
D=tests/data/xcomponent
dir=$(mktemp -d /tmp/xfsm-demo-XXXXXX)
bus_pid= daemon_pid= watch_pid= http_pid=
# the two-node part's processes, in the order they are stopped
node_pids=
cleanup() {
        [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
        [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null && wait "$http_pid" 2>/dev/null || true
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
        for p in $node_pids; do
                kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
        done
        rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== a private bus: dbus-daemon at unix:path=$dir/bus"
dbus-daemon --config-file=dbus/xfsm-private-bus.conf --address="unix:path=$dir/bus" --nofork --nopidfile \
        2>"$dir/bus.log" &
bus_pid=$!
for i in $(seq 100); do [ -S "$dir/bus" ] && break; sleep 0.05; done
BUS="unix:path=$dir/bus"

echo "== xfsmd hosts the two demo components (and examples/fetch-pipeline.yaml), with org.xfsm1.Manager"
# installed in a components directory of the demo's own, as in /etc/xfsm/components
mkdir -p "$dir/components"
cp $D/demo-order.yaml "$dir/components/order.yaml"
cp $D/demo-payment.yaml "$dir/components/payment.yaml"
cp examples/fetch-pipeline.yaml "$dir/components/fetch-pipeline.yaml"
XFSM_COMPONENT_PATH="$dir/components" build/daemon/xfsmd --bus-address "$BUS" --manager \
        --component order --component payment --component fetch-pipeline 2>"$dir/xfsmd.log" &
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

# ---- xfsm-http: xcomponent-ai's REST API and the dashboard ----------------------
echo
HTTP_PORT=${XFSM_DEMO_HTTP_PORT:-3000}
U="http://127.0.0.1:$HTTP_PORT"
echo "== xfsm-http (xfsm-http(8)) on $U: xcomponent-ai's REST API over the same bus"
echo "   (--anonymous-write: clients on loopback without a token may create and send)"
XFSM_HTTP_DASHBOARD=daemon/http/dashboard build/daemon/http/xfsm-http --bus-address "$BUS" \
        --listen "127.0.0.1:$HTTP_PORT" --anonymous-write --config /dev/null 2>"$dir/http.log" &
http_pid=$!
for i in $(seq 100); do
        curl -sf "$U/healthz" >/dev/null 2>&1 && break
        sleep 0.05
done
if ! command -v curl >/dev/null || ! curl -sf "$U/healthz" >/dev/null 2>&1; then
        echo "   SKIPPED: curl is not installed, or port $HTTP_PORT is taken (XFSM_DEMO_HTTP_PORT=...)"
        cat "$dir/http.log"
else
        J='Content-Type: application/json'
        echo '$ curl -s -X POST $U/api/components/PaymentComponent/instances -H "$J" -d '"'"'{"machineName":"Payment","context":{"orderId":"ORD-9"}}'"'"''
        P=$(curl -s -X POST "$U/api/components/PaymentComponent/instances" -H "$J" \
                -d '{"machineName":"Payment","context":{"orderId":"ORD-9"}}')
        echo "$P"
        PAYMENT_ID=$(echo "$P" | sed -n 's/.*"instanceId":"\([^"]*\)".*/\1/p')
        echo '$ curl -s -X POST $U/api/components/OrderComponent/instances -H "$J" -d '"'"'{"machineName":"Order","context":{"orderId":"ORD-9","amount":42,"customerId":"CUST-9"}}'"'"''
        O=$(curl -s -X POST "$U/api/components/OrderComponent/instances" -H "$J" \
                -d '{"machineName":"Order","context":{"orderId":"ORD-9","amount":42,"customerId":"CUST-9"}}')
        echo "$O"
        ORDER_ID=$(echo "$O" | sed -n 's/.*"instanceId":"\([^"]*\)".*/\1/p')
        echo '$ curl -s -X POST $U/api/instances/$ORDER_ID/events -H "$J" -d '"'"'{"type":"VALIDATE"}'"'"''
        curl -s -X POST "$U/api/instances/$ORDER_ID/events" -H "$J" -d '{"type":"VALIDATE"}'
        echo
        sleep 0.2
        echo '$ curl -s $U/api/instances/$PAYMENT_ID'
        curl -s "$U/api/instances/$PAYMENT_ID"
        echo
        echo '$ curl -s -X POST $U/api/instances/$ORDER_ID/events -H "$J" -d '"'"'{"type":"VALIDATE"}'"'"'   # again: not taken'
        curl -s -X POST "$U/api/instances/$ORDER_ID/events" -H "$J" -d '{"type":"VALIDATE"}'
        echo
        echo '$ curl -s $U/api/components/OrderComponent/diagrams/Order?currentState=Validated'
        curl -s "$U/api/components/OrderComponent/diagrams/Order?currentState=Validated"
        echo
        echo "== the dashboard: $U/dashboard (live: diagrams, instances, create and send)"
        if [ "${XFSM_DEMO_KEEP:-0}" = 1 ]; then
                echo "   XFSM_DEMO_KEEP=1: open it in a browser; press Ctrl-C to go on"
                trap 'echo' INT
                sleep infinity || true
                trap 'exit 130' INT
        else
                echo "   (XFSM_DEMO_KEEP=1 keeps it up until Ctrl-C)"
        fi
fi

# ---- two nodes through Redis ---------------------------------------------------
echo
echo "== two nodes on this machine, joined through Redis (xfsm-redis-bridge(8))"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        echo "   SKIPPED: redis-server is not installed (run this as root, or: sudo apt-get install redis-server)"
        exit 0
fi
BR=build/daemon/bridge/xfsm-redis-bridge
XD=build/daemon/xfsmd

# redis-server on a free loopback port, keeping what it acknowledges
# (appendfsync always) and never evicting (the bridge's REDIS REQUIREMENTS)
mkdir -p "$dir/redis"
port=
for try in 1 2 3 4 5 6 7 8 9 10; do
        p=$((20000 + ($$ * 7 + try * 1009) % 40000))
        redis-server --port "$p" --bind 127.0.0.1 --dir "$dir/redis" --appendonly yes --appendfsync always \
                --save '' --maxmemory-policy noeviction > "$dir/redis.log" 2>&1 &
        rpid=$!
        for i in $(seq 100); do
                kill -0 "$rpid" 2>/dev/null || break
                grep -q 'Ready to accept connections' "$dir/redis.log" && { port=$p; break; }
                sleep 0.05
        done
        [ -n "$port" ] && break
        kill "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null || true
done
[ -n "$port" ] || { echo "xfsm: could not start redis-server on a free port:" >&2; cat "$dir/redis.log" >&2; exit 1; }
node_pids=$rpid
R="redis-cli -p $port"
echo "== redis-server on 127.0.0.1:$port (appendonly yes, appendfsync always, maxmemory-policy noeviction)"

# each node: its own bus, xfsmd with a state directory, a key pair, a bridge
mkdir -p "$dir/nodes.d"
printf '[Bridge]\n' > "$dir/bridge.conf"   # not /etc/xfsm/bridge.conf: only the options below
start_node() { # NAME STEM FILE
        n=$1
        mkdir -p "$dir/$n/comp" "$dir/$n/state" "$dir/$n/bridge-state"
        cp "$3" "$dir/$n/comp/$2.yaml"
        dbus-daemon --config-file=dbus/xfsm-private-bus.conf --address="unix:path=$dir/$n/bus" --nofork --nopidfile \
                2>"$dir/$n/bus.log" &
        node_pids="$! $node_pids"
        for i in $(seq 100); do [ -S "$dir/$n/bus" ] && break; sleep 0.05; done
        XFSM_COMPONENT_PATH="$dir/$n/comp" $XD --bus-address "unix:path=$dir/$n/bus" --state-dir "$dir/$n/state" \
                --component "$2" 2>"$dir/$n/xfsmd.log" &
        node_pids="$! $node_pids"
        $BR --generate-key "$dir/$n/key" | sed 's/^/   /'
        cp "$dir/$n/key.pub" "$dir/nodes.d/$n.pub"
}
start_bridge() { # NAME
        n=$1
        XFSM_COMPONENT_PATH="$dir/$n/comp" $BR --config "$dir/bridge.conf" --bus-address "unix:path=$dir/$n/bus" \
                --node "$n" --redis "redis://127.0.0.1:$port" --state-dir "$dir/$n/bridge-state" \
                --nodes-dir "$dir/nodes.d" --node-key "$dir/$n/key.key" 2>>"$dir/$n/bridge.log" &
        bridge_pid=$!
        node_pids="$bridge_pid $node_pids"
}
knows() { # NAME COMPONENT: the node's bridge serves COMPONENT as homed elsewhere
        dbus-send --bus="unix:path=$dir/$1/bus" --print-reply --dest=org.xfsm1.Bridge /org/xfsm1/Bridge \
                org.freedesktop.DBus.Introspectable.Introspect 2>/dev/null | grep -q "node name=\"$2\""
}
echo "== node A: a private bus, xfsmd hosting OrderComponent; its key pair (xfsm-redis-bridge --generate-key)"
start_node nodeA order $D/demo-order.yaml
echo "== node B: a private bus, xfsmd hosting PaymentComponent; its key pair"
start_node nodeB payment $D/demo-payment.yaml
BA="unix:path=$dir/nodeA/bus"
BB="unix:path=$dir/nodeB/bus"
echo "== a bridge on each node, both public keys in the nodes directory"
start_bridge nodeA
bridge_a=$bridge_pid
start_bridge nodeB
bridge_b=$bridge_pid
for i in $(seq 200); do knows nodeA PaymentComponent && knows nodeB OrderComponent && break; sleep 0.05; done
grep -h -e 'homed on node' -e 'is alive' "$dir/nodeA/bridge.log" | sed 's/^/   nodeA /'
grep -h -e 'homed on node' -e 'is alive' "$dir/nodeB/bridge.log" | sed 's/^/   nodeB /'
echo "   $R GET 'xfsm:{PaymentComponent}:home': $($R GET 'xfsm:{PaymentComponent}:home')"

echo
echo "== xfsmctl --bus \$NODE_B watch (in the background) prints node B's transitions"
$X --bus "$BB" watch 2>/dev/null &
node_pids="$! $node_pids"
sleep 0.3

echo "== on node B two Payments wait in Pending; on node A an Order is created"
P1=$($X --bus "$BB" create PaymentComponent Payment --context '{"orderId":"ORD-1"}')
P2=$($X --bus "$BB" create PaymentComponent Payment --context '{"orderId":"ORD-2"}')
O=$($X --bus "$BA" create OrderComponent Order --context '{"orderId":"ORD-1","amount":99.5,"customerId":"CUST-7"}')
echo "   Order $O on node A, Payments $P1 $P2 on node B"
echo "== xfsmctl --bus \$NODE_A send OrderComponent $O VALIDATE"
$X --bus "$BA" send OrderComponent "$O" VALIDATE
for i in $(seq 100); do
        [ "$($X --bus "$BB" instances PaymentComponent --state Processing 2>/dev/null | grep -c Processing)" = 2 ] && break
        sleep 0.05
done
sleep 0.2
echo "== xfsmctl --bus \$NODE_B instances PaymentComponent"
$X --bus "$BB" instances PaymentComponent
echo "== the stream of PaymentComponent: each entry delivered, acknowledged and trimmed"
echo "   $R XLEN 'xfsm:{PaymentComponent}:inbox': $($R XLEN 'xfsm:{PaymentComponent}:inbox')"

echo
echo "== node B's bridge stops (SIGKILL); a Payment waits on node B, a second Order is validated on node A"
kill -KILL "$bridge_b"
wait "$bridge_b" 2>/dev/null || true
P3=$($X --bus "$BB" create PaymentComponent Payment --context '{"orderId":"ORD-3"}')
O2=$($X --bus "$BA" create OrderComponent Order --context '{"orderId":"ORD-3","amount":12,"customerId":"CUST-8"}')
$X --bus "$BA" send OrderComponent "$O2" VALIDATE
sleep 1
echo "   Payment $P3: $($X --bus "$BB" show PaymentComponent "$P3" | sed -n 's/^ *State: *//p'); the event waits in Redis: XLEN $($R XLEN 'xfsm:{PaymentComponent}:inbox')"
echo "== node B's bridge starts again"
start_bridge nodeB
for i in $(seq 200); do
        [ "$($X --bus "$BB" show PaymentComponent "$P3" | sed -n 's/^ *State: *//p')" = Processing ] && break
        sleep 0.05
done
sleep 0.2
echo "   Payment $P3: $($X --bus "$BB" show PaymentComponent "$P3" | sed -n 's/^ *State: *//p'); XLEN $($R XLEN 'xfsm:{PaymentComponent}:inbox')"
echo
echo "== any node answers for any component: on node A, xfsmctl reaches PaymentComponent (homed on node B)"
echo "== xfsmctl --bus \$NODE_A list"
$X --bus "$BA" list
echo "== xfsmctl --bus \$NODE_A send PaymentComponent $P3 CONFIRM"
$X --bus "$BA" send PaymentComponent "$P3" CONFIRM
echo "== xfsmctl --bus \$NODE_A history PaymentComponent $P3"
$X --bus "$BA" history PaymentComponent "$P3"
echo "   node B's bridge logged the caller: $(grep -h 'called from node' "$dir/nodeB/bridge.log" | tail -n 1)"
echo "== xfsmctl --bus \$NODE_A bridge status"
$X --bus "$BA" bridge status
echo "== the keys in Redis"
$R --scan --pattern 'xfsm:*' | sort | sed 's/^/   /'
