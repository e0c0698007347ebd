#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside the container (tests/container/run.sh), as root, with xfsm
# installed under /usr and components order, payment and counter in
# /etc/xfsm/components.
set -euo pipefail

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "not ok - $*"; journalctl --no-pager -n 60 -u 'xfsm@*' || true; exit 1; }
call() { busctl --system call "$@"; }
# the string in a busctl reply: s "Validated" -> Validated
str() { sed -n 's/^[a-z]* "\(.*\)".*/\1/p' | head -1; }
id_of() { sed -n 's/^os "[^"]*" "\([^"]*\)"/\1/p'; }
wait_active() { for _ in $(seq 100); do systemctl is-active --quiet "$1" && return 0; sleep 0.1; done; return 1; }

bus=${XFSM_EXPECT_BUS:-dbus-daemon}
running() { for e in /proc/[0-9]*/exe; do [ "$(basename "$(readlink "$e" 2>/dev/null)")" = "$1" ] && return 0; done; return 1; }
running "$bus" || fail "the system bus is not $bus"
echo "# the system bus: $bus"

getent passwd xfsm > /dev/null || fail "sysusers.d did not create the user xfsm"
ok "the static user xfsm exists"

for c in order payment counter; do
        xfsmctl enable "$c" > /dev/null || fail "xfsmctl enable $c"
done
call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
ok "xfsmctl enable wrote the activation and policy files"

# -- systemctl start xfsm@order ---------------------------------------------------------
systemctl start xfsm@order.service || fail "systemctl start xfsm@order"
[ "$(systemctl is-active xfsm@order.service)" = active ] || fail "xfsm@order is not active"
[ "$(systemctl show -p User --value xfsm@order.service)" = xfsm ] || fail "the worker does not run as xfsm"
call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component ListInstances ss "" "" > /dev/null \
        || fail "busctl call to org.xfsm1.OrderComponent"
[ -d /var/lib/xfsm/order ] || fail "no state directory /var/lib/xfsm/order"
ok "systemctl start xfsm@order: active, as xfsm, on the system bus, state in /var/lib/xfsm/order"

# -- the socket alone starts the worker ---------------------------------------------------
systemctl start xfsm@counter.socket
[ "$(systemctl is-active xfsm@counter.service || true)" != active ] || fail "xfsm@counter started too early"
perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die; connect($s, pack_sockaddr_un("/run/xfsm/counter.sock")) or die "connect: $!"; sleep 1' \
        || fail "cannot connect to /run/xfsm/counter.sock"
wait_active xfsm@counter.service || fail "a connection to the socket did not start xfsm@counter"
[ "$(stat -c %a:%G /run/xfsm/counter.sock)" = 660:xfsm ] || fail "the socket is not 0660 group xfsm"
ok "the socket alone activates the worker (/run/xfsm/counter.sock 0660 group xfsm)"

# -- bus activation of a stopped, enabled component ------------------------------------------
systemctl stop xfsm@payment.service 2> /dev/null || true
P=$(call org.xfsm1.PaymentComponent /org/xfsm1/PaymentComponent org.xfsm1.Component CreateInstance ss Payment \
        '{"orderId":"ORD-1"}' | id_of) || fail "a call to the stopped payment component"
[ -n "$P" ] || fail "no Payment created"
[ "$(systemctl is-active xfsm@payment.service)" = active ] || fail "the call did not start xfsm@payment"
ok "a call to a stopped, enabled component bus-activates it"

# -- org.xfsm1.Manager: bus-activated xfsmd.service, starting and stopping workers through systemd --
systemctl stop xfsm@payment.service 2> /dev/null || true
out=$(call org.xfsm1 /org/xfsm1 org.xfsm1.Manager ListComponents) || fail "ListComponents"
echo "$out" | grep -q '"PaymentComponent" "payment" "[0-9a-f]*" "org.xfsm1.PaymentComponent" false' \
        || fail "ListComponents does not show payment as stopped: $out"
echo "$out" | grep -q '"OrderComponent" "order" "[0-9a-f]*" "org.xfsm1.OrderComponent" true' \
        || fail "ListComponents does not show order as running: $out"
[ "$(systemctl is-active xfsmd.service)" = active ] || fail "the call did not bus-activate xfsmd.service"
[ "$(systemctl show -p User --value xfsmd.service)" = xfsm ] || fail "xfsmd.service does not run as xfsm"
call org.xfsm1 /org/xfsm1 org.xfsm1.Manager StartComponent s payment || fail "StartComponent payment"
wait_active xfsm@payment.service || fail "StartComponent did not start xfsm@payment"
call org.xfsm1 /org/xfsm1 org.xfsm1.Manager StopComponent s payment || fail "StopComponent payment"
for _ in $(seq 100); do systemctl is-active --quiet xfsm@payment.service || break; sleep 0.1; done
systemctl is-active --quiet xfsm@payment.service && fail "StopComponent did not stop xfsm@payment"
ok "org.xfsm1.Manager (xfsmd.service as xfsm, bus-activated): lists components, starts and stops workers"

# -- the demo cascade across two workers -----------------------------------------------------
O=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component CreateInstance ss Order \
        '{"orderId":"ORD-1","amount":10}' | id_of)
st=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O" VALIDATE '{}' | str)
[ "$st" = Validated ] || fail "VALIDATE: $st"
for _ in $(seq 100); do
        ps=$(xfsmctl --system instances PaymentComponent --state Processing | grep -c "$P" || true)
        [ "$ps" = 1 ] && break
        sleep 0.1
done
[ "$ps" = 1 ] || fail "the Payment in the other worker did not move to Processing"
ok "order and payment in two workers: VALIDATE cascades PROCESS across processes"

# -- polkit: an unprivileged user is asked about, rules grant, the worker socket is checked too ------
useradd -r -M -s /usr/sbin/nologin xfsmtest
useradd -r -M -s /usr/sbin/nologin -G xfsm xfsmsock # may connect to /run/xfsm/*.sock, nothing more
groupadd -r orderdesk
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
ucall() { local u=$1; shift; runuser -u "$u" -- busctl --system call "$@" 2>&1; }
denied() { grep -qE 'Access denied|Interactive authentication required'; }
O3=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component CreateInstance ss Order \
        '{"orderId":"ORD-3","amount":3}' | id_of)
n_orders=$(xfsmctl --system instances OrderComponent | wc -l)
out=$(ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O3" VALIDATE '{}') \
        && fail "xfsmtest could Send: $out"
echo "$out" | denied || fail "Send as xfsmtest: $out"
out=$(runuser -u xfsmtest -- busctl --system --allow-interactive-authorization=no call org.xfsm1.OrderComponent \
        /org/xfsm1/OrderComponent org.xfsm1.Component CreateInstance ss Order '{}' 2>&1) \
        && fail "xfsmtest could CreateInstance: $out"
echo "$out" | denied || fail "CreateInstance as xfsmtest: $out"
xfsmctl --system instances OrderComponent --state Created | grep -q "$O3" || fail "a denied Send changed the order"
[ "$(xfsmctl --system instances OrderComponent | wc -l)" = "$n_orders" ] || fail "a denied CreateInstance created one"
ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component ListInstances ss "" "" \
        > /dev/null || fail "ListInstances is not open to xfsmtest"
as xfsmtest busctl --system get-property org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component \
        Name > /dev/null || fail "properties are not open to xfsmtest"
ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component GetContext s "$O3" \
        > /dev/null || fail "GetContext (read-context defaults to yes) is not open to xfsmtest"
out=$(ucall xfsmtest org.xfsm1 /org/xfsm1 org.xfsm1.Manager StartComponent s payment) \
        && fail "xfsmtest could StartComponent: $out"
echo "$out" | denied || fail "StartComponent as xfsmtest: $out"
journalctl --no-pager -o cat MESSAGE_ID=a1b2c3d4e5f64718293a4b5c6d7e8f90 _SYSTEMD_UNIT=xfsm@order.service \
        | grep -q "Denied org.xfsm1.send-event to uid $(id -u xfsmtest) (pid [0-9]*): component=OrderComponent machine=Order event=VALIDATE" \
        || fail "the denial is not in the journal"
ok "polkit: an unprivileged user is denied CreateInstance, Send and StartComponent (nothing changes, the denial is in the journal); List, properties and GetContext stay open"

cat > /etc/polkit-1/rules.d/40-xfsm-private.rules <<'RULE'
polkit.addRule(function(action, subject) {
        if (action.id == "org.xfsm1.read-context" && subject.user == "xfsmtest")
                return polkit.Result.NO;
});
RULE
for _ in $(seq 50); do
        out=$(ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component GetContext s "$O3") \
                || break
        sleep 0.1
done
echo "$out" | denied || fail "GetContext restricted by a rule: $out"
ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component ListInstances ss "" "" \
        > /dev/null || fail "ListInstances is not open to xfsmtest under the restriction"
rm /etc/polkit-1/rules.d/40-xfsm-private.rules
ok "polkit: a rule restricting org.xfsm1.read-context denies GetContext; ListInstances stays open"

cp /usr/share/doc/xfsm/examples/60-xfsm-orderdesk.rules.example /etc/polkit-1/rules.d/60-xfsm-orderdesk.rules
usermod -aG orderdesk,xfsm xfsmtest
for _ in $(seq 50); do
        out=$(ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O3" VALIDATE '{}') \
                && break
        sleep 0.1
done
echo "$out" | grep -q Validated || fail "the example rule did not let group orderdesk Send to OrderComponent: $out"
P3=$(call org.xfsm1.PaymentComponent /org/xfsm1/PaymentComponent org.xfsm1.Component CreateInstance ss Payment \
        '{"orderId":"ORD-3b"}' | id_of)
out=$(ucall xfsmtest org.xfsm1.PaymentComponent /org/xfsm1/PaymentComponent org.xfsm1.Component Send sss "$P3" PROCESS '{}') \
        && fail "the example rule let orderdesk Send to PaymentComponent: $out"
echo "$out" | denied || fail "Send to PaymentComponent as orderdesk: $out"
# the worker socket: the same check, with the process as the subject
out=$(as xfsmtest /usr/share/xfsm-tests/peer-call /run/xfsm/order.sock /org/xfsm1/OrderComponent org.xfsm1.Component \
        ListInstances "" "") || fail "xfsmtest (group xfsm) cannot talk to /run/xfsm/order.sock: $out"
O4=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component CreateInstance ss Order \
        '{"orderId":"ORD-4","amount":4}' | id_of)
out=$(as xfsmsock /usr/share/xfsm-tests/peer-call /run/xfsm/order.sock /org/xfsm1/OrderComponent org.xfsm1.Component \
        Send "$O4" VALIDATE '{}') && fail "xfsmsock (group xfsm only) could Send on the worker socket: $out"
echo "$out" | grep -qE 'AccessDenied|InteractiveAuthorizationRequired' || fail "Send on the socket as xfsmsock: $out"
out=$(as xfsmtest /usr/share/xfsm-tests/peer-call /run/xfsm/order.sock /org/xfsm1/OrderComponent org.xfsm1.Component \
        Send "$O4" VALIDATE '{}') || fail "orderdesk could not Send on the worker socket: $out"
echo "$out" | grep -q 'OK Validated' || fail "Send on the socket as xfsmtest: $out"
ok "polkit: the example rule grants group orderdesk OrderComponent only, on the bus and on the worker socket"

rm /etc/polkit-1/rules.d/60-xfsm-orderdesk.rules
for _ in $(seq 50); do
        out=$(ucall xfsmtest org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O3" COMPLETE '{}') \
                || break
        sleep 0.1
done
echo "$out" | denied || fail "removing the rule did not take effect: $out"
st=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O3" COMPLETE '{}' | str)
[ -n "$st" ] || fail "root was refused"
ok "polkit: removing the rule takes effect without restarting xfsm; root is always allowed"

# -- exec actions: xfsm-exec@.service units, sandboxed ---------------------------------------------
J() { call org.xfsm1.Jobs /org/xfsm1/Jobs org.xfsm1.Component "$@"; }
# the state of a Job once it has left Running (10 s at most)
job_state() {
        local s
        for _ in $(seq 100); do
                s=$(xfsmctl --system show Jobs "$1" 2> /dev/null | sed -n 's/^ *State: //p')
                [ -n "$s" ] && [ "$s" != Running ] && { echo "$s"; return 0; }
                sleep 0.1
        done
        echo "${s:-none}"
}
job_ctx() { J GetContext s "$1" | str | sed 's/\\"/"/g'; }
xfsmctl enable jobs > /dev/null
call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
systemctl start xfsm@jobs.service || fail "systemctl start xfsm@jobs"
journalctl --no-pager -o cat -u xfsm@jobs.service | grep -q 'exec actions run as xfsm-exec@.service units' \
        || fail "the worker does not run exec actions as units"
X=$(J CreateInstance ss Job '{"mode":"probe"}' | id_of)
J Send sss "$X" RUN '{}' > /dev/null
[ "$(job_state "$X")" = Done ] || fail "the probe did not end in Done: $(job_ctx "$X")"
ctx=$(job_ctx "$X")
uid=$(echo "$ctx" | sed -n 's/.*"uid":\([0-9]*\).*/\1/p')
[ -n "$uid" ] && [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || fail "the command did not run as a dynamic user: $ctx"
echo "$ctx" | grep -q '"ifaces":"lo "' || fail "the command had a network: $ctx"
echo "$ctx" | grep -q '"fs":"ro"' || fail "the command could write /usr: $ctx"
ok "exec: EXEC_DONE with the command's output merged, run as a dynamic user (uid $uid), no network, read-only /usr"

F=$(J CreateInstance ss Job '{"mode":"fail"}' | id_of)
T=$(J CreateInstance ss Job '{"mode":"sleep"}' | id_of)
G=$(J CreateInstance ss Job '{"mode":"garbage"}' | id_of)
for i in "$F" "$T" "$G"; do J Send sss "$i" RUN '{}' > /dev/null; done
sleep 0.3
units=$(systemctl list-units --all --no-legend --plain "xfsm-exec@jobs-$T-*" | awk '{print $1}')
[ -n "$units" ] || fail "no xfsm-exec@jobs-$T-*.service while the command runs"
[ "$(job_state "$F")" = Failed ] || fail "a failing command did not end in Failed"
job_ctx "$F" | grep -q '"reason":"exit-status","status":3' || fail "failing: $(job_ctx "$F")"
job_ctx "$F" | grep -q 'boom' || fail "failing: no stderr tail: $(job_ctx "$F")"
[ "$(job_state "$T")" = Failed ] || fail "a command running over its time did not end in Failed"
job_ctx "$T" | grep -q '"reason":"timeout"' || fail "timing out: $(job_ctx "$T")"
[ "$(job_state "$G")" = Failed ] || fail "a garbage-printing command did not end in Failed"
job_ctx "$G" | grep -q '"reason":"not-json"' || fail "garbage: $(job_ctx "$G")"
sleep 0.5
left=$(systemctl list-units --all --no-legend --plain 'xfsm-exec@*' | wc -l)
[ "$left" = 0 ] || fail "exec units left behind: $(systemctl list-units --all --no-legend --plain 'xfsm-exec@*')"
ok "exec: failing, timing-out and garbage-printing commands give EXEC_FAILED (exit-status, timeout, not-json); the unit ($units) named after component and instance, collected after"

# kill -9 of the worker while a command runs: the unit goes on; after the restart its outcome, once
S=$(J CreateInstance ss Job '{"mode":"slow"}' | id_of)
J Send sss "$S" RUN '{}' > /dev/null
sleep 0.2
systemctl kill -s KILL xfsm@jobs.service
sleep 2
for _ in $(seq 50); do J ListInstances ss "" "" > /dev/null 2>&1 && break; sleep 0.1; done
[ "$(job_state "$S")" = Done ] || fail "after kill -9 the slow command's outcome did not arrive: $(job_ctx "$S")"
job_ctx "$S" | grep -q '"slow":true' || fail "after kill -9: $(job_ctx "$S")"
outcomes=$(journalctl --no-pager -o cat -u xfsm@jobs.service | grep -c "Jobs $S: exec /bin/sh → EXEC_" || true)
[ "$outcomes" = 1 ] || fail "after kill -9: $outcomes outcome events for the slow command, not 1"
ok "exec: kill -9 of the worker while a command runs: re-attached after the restart, exactly one outcome (EXEC_DONE)"

# -- unit actions: only allowed units; completion as an event; user xfsm manages nothing else -------
printf '[Unit]\nDescription=xfsm test backup\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
        > /etc/systemd/system/xfsm-test-backup.service
printf '[Unit]\nDescription=not for xfsm\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
        > /etc/systemd/system/other-test.service
systemctl daemon-reload
systemctl start xfsm@units.service 2> /dev/null && fail "a component with a unit action not allowed started"
journalctl --no-pager -o cat -u xfsm@units.service | grep -q "units.yaml:10:13: error: unit 'xfsm-test-backup.service' is not allowed" \
        || fail "the refusal at load does not say where"
systemctl reset-failed xfsm@units.service 2> /dev/null || true
printf '[Units]\nAllow=xfsm-test-*.service\n' >> /etc/xfsm/xfsm.conf
xfsmctl enable units > /dev/null
call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
systemctl start xfsm@units.service || fail "the component with an allowed unit action did not start"
B=$(call org.xfsm1.Units /org/xfsm1/Units org.xfsm1.Component CreateInstance ss Backup '{}' | id_of)
call org.xfsm1.Units /org/xfsm1/Units org.xfsm1.Component Send sss "$B" GO '{}' > /dev/null
for _ in $(seq 100); do
        st=$(xfsmctl --system show Units "$B" | sed -n 's/^ *State: //p')
        [ "$st" = Starting ] || break
        sleep 0.1
done
[ "$st" = Done ] || fail "the allowed unit's completion did not arrive as UNIT_DONE (state $st): $(call org.xfsm1.Units /org/xfsm1/Units org.xfsm1.Component GetContext s "$B")"
out=$(runuser -u xfsm -- systemctl --no-ask-password start other-test.service 2>&1) \
        && fail "user xfsm could start other-test.service"
out=$(runuser -u xfsm -- systemd-run --no-ask-password --wait /bin/true 2>&1) \
        && fail "user xfsm could start a transient unit"
runuser -u xfsm -- systemctl --no-ask-password start xfsm-test-backup.service \
        || fail "user xfsm could not start the allowed unit"
ok "unit: refused at load unless allowed; an allowed unit started and UNIT_DONE arrived; user xfsm cannot start other units or transient ones"

# -- kill -9 in the middle of a stream of acknowledged events -------------------------------------
C=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component CreateInstance ss Counter '{"n":0}' | id_of)
for i in $(seq 40); do
        call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component Send sss "$C" ADD '{"k":1}' > /dev/null \
                || fail "ADD $i"
done
systemctl kill -s KILL xfsm@counter.service
sleep 0.5
for i in $(seq 40); do
        # the worker comes back (Restart=on-failure, or the next call activates it)
        for _ in $(seq 50); do
                call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component Send sss "$C" ADD '{"k":1}' > /dev/null \
                        2>&1 && break
                sleep 0.1
        done
done
ctx=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component GetContext s "$C" | str)
echo "$ctx" | grep -q '\\"n\\":80' || fail "after kill -9 the counter is $ctx, not 80"
ok "kill -9 of a worker mid-stream: all 80 acknowledged events there, none twice"

# -- history is as durable as the state: kill -9 in the middle of a stream ------------------------------
hist_count() { call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component GetHistory s "$1" | grep -o 'event\\":\\"ADD' | wc -l; }
H=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component CreateInstance ss Counter '{"n":0}' | id_of)
acked=/tmp/xfsm-acked
: > "$acked"
(
        for i in $(seq 400); do
                call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component Send sss "$H" ADD '{"k":1}' > /dev/null \
                        2>&1 || break
                echo "$i" >> "$acked"
        done
) &
stream=$!
for _ in $(seq 100); do [ "$(wc -l < "$acked")" -ge 25 ] && break; sleep 0.05; done
at_kill=$(wc -l < "$acked")
systemctl kill -s KILL xfsm@counter.service
wait "$stream" || true
a=$(wc -l < "$acked")
[ "$a" -ge 25 ] || fail "only $a events were acknowledged before the kill"
for _ in $(seq 100); do
        call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component GetHistory s "$H" > /dev/null 2>&1 && break
        sleep 0.1
done
h=$(hist_count "$H")
# what was acknowledged is there; at most the one call in flight at the kill is there besides
[ "$h" -ge "$a" ] && [ "$h" -le $((a + 1)) ] || fail "after kill -9 the history holds $h ADD entries; $a were acknowledged"
ctx=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component GetContext s "$H" | str)
echo "$ctx" | grep -Eq '\\"n\\":'"$h"'[,}]' || fail "the history ($h entries) and the state ($ctx) disagree"
# and after a clean restart (a snapshot) the same history
systemctl restart xfsm@counter.service
wait_active xfsm@counter.service || fail "xfsm@counter did not restart"
h2=$(hist_count "$H")
[ "$h2" = "$h" ] || fail "after a clean restart the history holds $h2 entries, not $h"
ok "history as durable as the state: kill -9 after $at_kill acknowledged events, $a acknowledged in all (the worker came back mid-stream), $h in the history, the same after a restart"

# -- the receiving worker is killed: the sender's outbox delivers after it is back -------------------
P2=$(call org.xfsm1.PaymentComponent /org/xfsm1/PaymentComponent org.xfsm1.Component CreateInstance ss Payment \
        '{"orderId":"ORD-2"}' | id_of)
O2=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component CreateInstance ss Order \
        '{"orderId":"ORD-2","amount":5}' | id_of)
systemctl kill -s KILL xfsm@payment.service
st=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O2" VALIDATE '{}' | str)
[ "$st" = Validated ] || fail "VALIDATE with the payment worker killed: $st"
for _ in $(seq 100); do
        ps=$(xfsmctl --system instances PaymentComponent --state Processing 2> /dev/null | grep -c "$P2" || true)
        [ "$ps" = 1 ] && break
        sleep 0.1
done
[ "$ps" = 1 ] || fail "the cascade to the killed payment worker was lost"
ok "the receiving worker killed: the cascade arrives once it is back"

# -- a target that is not running, and not bus-activatable, is reached through its socket ------------
P5=$(call org.xfsm1.PaymentComponent /org/xfsm1/PaymentComponent org.xfsm1.Component CreateInstance ss Payment \
        '{"orderId":"ORD-5"}' | id_of)
xfsmctl disable payment > /dev/null
call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
systemctl stop xfsm@payment.service
systemctl is-active --quiet xfsm@payment.socket || fail "xfsm@payment.socket is not listening"
O5=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component CreateInstance ss Order \
        '{"orderId":"ORD-5","amount":5}' | id_of)
st=$(call org.xfsm1.OrderComponent /org/xfsm1/OrderComponent org.xfsm1.Component Send sss "$O5" VALIDATE '{}' | str)
[ "$st" = Validated ] || fail "VALIDATE with payment stopped: $st"
wait_active xfsm@payment.service || fail "the routed event did not activate xfsm@payment through its socket"
xfsmctl enable payment > /dev/null
call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
for _ in $(seq 100); do
        ps=$(xfsmctl --system instances PaymentComponent --state Processing 2> /dev/null | grep -c "$P5" || true)
        [ "$ps" = 1 ] && break
        sleep 0.1
done
[ "$ps" = 1 ] || fail "the cascade through the socket did not arrive"
ok "a stopped worker without bus activation is reached through its socket: the routed event activates it and arrives"

# -- systemctl restart in the middle of a stream -------------------------------------------------------
R=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component CreateInstance ss Counter '{"n":0}' | id_of)
acked=0
(sleep 0.3; systemctl restart xfsm@counter.service) &
for i in $(seq 60); do
        if call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component Send sss "$R" ADD '{"k":1}' > /dev/null 2>&1; then
                acked=$((acked + 1))
        fi
done
wait
ctx=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component GetContext s "$R" | str)
n_now=$(echo "$ctx" | sed -n 's/.*\\"n\\":\([0-9]*\).*/\1/p')
# an unacknowledged call may or may not have been applied; an acknowledged one must be
[ -n "$n_now" ] && [ "$n_now" -ge "$acked" ] && [ "$n_now" -le 60 ] \
        || fail "restart mid-stream: $acked events acknowledged, the counter is $n_now"
ok "systemctl restart mid-stream: every acknowledged event is there ($acked of 60), none twice"

# -- idling out while calls arrive: every call answered, every event there once ----------------------
xfsmd_bin=$(systemctl show -p ExecStart --value xfsm@counter.service | sed -n 's/.*path=\([^ ;]*\).*/\1/p')
mkdir -p /etc/systemd/system/xfsm@counter.service.d
printf '[Service]\nExecStart=\nExecStart=%s --system --component %%i --state-dir /var/lib/xfsm --idle-timeout 1\n' \
        "$xfsmd_bin" > /etc/systemd/system/xfsm@counter.service.d/idle.conf
systemctl daemon-reload
systemctl restart xfsm@counter.service
I=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component CreateInstance ss Counter '{"n":0}' | id_of)
pids=""
for i in $(seq 12); do
        # around and past the idle timeout (1 s): some calls meet a worker leaving, some a new one
        sleep "$(printf '1.%03d' $(( (i * 97) % 600 )))"
        call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component Send sss "$I" ADD '{"k":1}' > /dev/null \
                || fail "ADD $i to a worker idling out"
        pids="$pids $(systemctl show -p MainPID --value xfsm@counter.service)"
done
ctx=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component GetContext s "$I" | str)
echo "$ctx" | grep -q '\\"n\\":12' || fail "idling out while calls arrive: the counter is $ctx, not 12"
workers=$(echo $pids | tr ' ' '\n' | sort -u | wc -l)
[ "$workers" -gt 1 ] || fail "the worker never idled out (pids:$pids)"
rm -r /etc/systemd/system/xfsm@counter.service.d
systemctl daemon-reload
ok "a worker idling out while calls arrive: 12 of 12 answered and counted, across $workers workers"

# -- a timer due while the worker is down fires after the restart ------------------------------------
A=$(call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component CreateInstance ss Alarm '{}' | id_of)
systemctl stop xfsm@counter.service
sleep 2
systemctl start xfsm@counter.service
sleep 0.5
xfsmctl --system instances Durable --state Rang | grep -q "$A" || fail "the alarm did not ring after the restart"
ok "a timer due while the worker was down fires after restart"

# -- Reload: systemctl reload and org.xfsm1.Manager.Reload; live instances keep their version ----------
cver() { busctl --system get-property org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component Version | str; }
iver() { busctl --system get-property org.xfsm1.Durable "$1" org.xfsm1.Instance Version | str; }
opath() { call org.xfsm1.Durable /org/xfsm1/Durable org.xfsm1.Component CreateInstance ss Counter '{"n":0}' \
        | sed -n 's/^os "\([^"]*\)".*/\1/p'; }
systemctl start xfsm@counter.service
P_OLD=$(opath)
v_old=$(cver)
[ "$(iver "$P_OLD")" = "$v_old" ] || fail "an instance's Version is not its component's"
printf '  - name: Extra\n    initialState: E\n    states: [{name: E}]\n' >> /etc/xfsm/components/counter.yaml
systemctl reload xfsm@counter.service || fail "systemctl reload xfsm@counter"
for _ in $(seq 50); do [ "$(cver)" != "$v_old" ] && break; sleep 0.1; done
v_new=$(cver)
[ "$v_new" != "$v_old" ] || fail "systemctl reload did not load the changed definition"
[ "$(iver "$P_OLD")" = "$v_old" ] || fail "a live instance did not keep its version across the reload"
P_NEW=$(opath)
[ "$(iver "$P_NEW")" = "$v_new" ] || fail "a new instance did not get the new version"
# once more through org.xfsm1.Manager (as root; an unprivileged user is refused)
printf '  - name: Extra2\n    initialState: E\n    states: [{name: E}]\n' >> /etc/xfsm/components/counter.yaml
out=$(ucall xfsmtest org.xfsm1 /org/xfsm1 org.xfsm1.Manager Reload) && fail "xfsmtest could Reload: $out"
echo "$out" | denied || fail "Reload as xfsmtest: $out"
call org.xfsm1 /org/xfsm1 org.xfsm1.Manager Reload || fail "Manager.Reload"
for _ in $(seq 50); do [ "$(cver)" != "$v_new" ] && break; sleep 0.1; done
[ "$(cver)" != "$v_new" ] || fail "Manager.Reload did not reload the worker"
# and across a restart of the worker, the old instance still has its version
systemctl restart xfsm@counter.service
[ "$(iver "$P_OLD")" = "$v_old" ] || fail "after a restart the old instance lost its version"
[ "$(iver "$P_NEW")" = "$v_new" ] || fail "after a restart the second instance lost its version"
ok "reload: systemctl reload and Manager.Reload load the changed definition; live instances keep theirs, across a restart too"

# -- xfsm-http: socket-activated on loopback, as user xfsm-http, reading through polkit ----------
systemctl start xfsm-http.socket || fail "systemctl start xfsm-http.socket"
out=$(curl -s --max-time 20 http://127.0.0.1:3000/api/components) || fail "GET /api/components: curl failed"
echo "$out" | grep -q '"Durable"' || fail "GET /api/components did not list Durable: $out"
[ "$(systemctl show -p User --value xfsm-http.service)" = xfsm-http ] || fail "xfsm-http.service is not user xfsm-http"
[ "$(stat -c %U "/proc/$(systemctl show -p MainPID --value xfsm-http.service)")" = xfsm-http ] ||
        fail "xfsm-http does not run as xfsm-http"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST -H 'Content-Type: application/json' \
        -d '{"machineName":"Counter","context":{"n":0}}' http://127.0.0.1:3000/api/components/Durable/instances)
[ "$code" = 403 ] || [ "$code" = 401 ] || fail "an anonymous POST was not refused (HTTP $code)"
systemctl stop xfsm-http.socket xfsm-http.service
ok "xfsm-http: socket-activated as user xfsm-http, lists the components, refuses an anonymous write"

# -- figures, not checks: an exec action as a unit beside systemd-run --wait -------------------------
xfsmctl enable benchexec > /dev/null
call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig > /dev/null
/usr/share/xfsm-tests/xfsm-bench exec --count 20 | sed 's/^/# /' || echo "# bench exec failed"

echo "1..$n"
