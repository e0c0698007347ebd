#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside a booted container (tests/container/run-packages.sh), as root,
# on a Debian 12 root file system that never saw the build tree: the .deb
# packages in /root/debs/old are installed with apt (which pulls their
# runtime dependencies), used from packaged files only, upgraded to those in
# /root/debs/new while instances live, a timer is armed and a stream of
# events runs, then removed and purged.
set -euo pipefail

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() {
        echo "not ok - $*"
        journalctl --no-pager -n 80 -u 'xfsm*' || true
        exit 1
}
call() { busctl --system call "$@"; }
str() { sed -n 's/^[a-z]* "\(.*\)".*/\1/p' | head -1; }
id_of() { sed -n 's/^os "[^"]*" "\([^"]*\)"/\1/p'; }
wait_for() { # wait_for TENTHS CMD...: CMD until it succeeds, at most TENTHS tenths of a second
        local i=$1
        shift
        while ! "$@"; do
                i=$((i - 1))
                [ $i -gt 0 ] || return 1
                sleep 0.1
        done
}
export DEBIAN_FRONTEND=noninteractive
apt_q() { apt-get -y -q -o Dpkg::Use-Pty=0 "$@" > /tmp/apt.log 2>&1 || { tail -40 /tmp/apt.log; return 1; }; }
debs() { # the packages to install from directory $1 (not the debug symbols; xfsm-http where it was built)
        ls "$1"/xfsm_*.deb "$1"/libxfsm0_*.deb "$1"/xfsm-redis-bridge_*.deb
        ls "$1"/xfsm-http_*.deb 2> /dev/null || true
}
http=0
ls /root/debs/old/xfsm-http_*.deb > /dev/null 2>&1 && http=1
old_version=$(dpkg-deb -f "$(ls /root/debs/old/xfsm_*.deb)" Version)
new_version=$(dpkg-deb -f "$(ls /root/debs/new/xfsm_*.deb)" Version)
echo "# upgrade from $old_version to $new_version"

# == install ===============================================================================
for p in libyaml-0-2 libhiredis0.14 libsodium23; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
                fail "$p is already in the root file system: apt would have nothing to pull"
        fi
done
apt_q update || fail "apt-get update"
mapfile -t old < <(debs /root/debs/old)
apt_q install "${old[@]}" || fail "apt install ${old[*]}"
for p in libyaml-0-2 libhiredis0.14 libsodium23; do
        dpkg-query -W -f='${Status}' "$p" | grep -q 'install ok installed' || fail "apt did not pull $p"
done
ok "apt install ./xfsm_$old_version.deb (and libxfsm0, xfsm-redis-bridge) pulled the runtime dependencies"

getent passwd xfsm > /dev/null || fail "no user xfsm"
[ "$(stat -c %U:%G:%a /var/lib/xfsm-exec)" = xfsm:xfsm:750 ] || fail "/var/lib/xfsm-exec is $(stat -c %U:%G:%a /var/lib/xfsm-exec)"
[ "$(stat -c %U:%a /var/lib/xfsm)" = root:755 ] || fail "/var/lib/xfsm is $(stat -c %U:%a /var/lib/xfsm)"
[ -d /etc/xfsm/components ] || fail "no /etc/xfsm/components"
ok "the user xfsm, /var/lib/xfsm (root 0755), /var/lib/xfsm-exec (xfsm 0750), /etc/xfsm/components"

systemctl is-enabled --quiet xfsmd.service || fail "xfsmd.service is not enabled"
systemctl is-enabled --quiet xfsm-redis-bridge.service && fail "the package enabled xfsm-redis-bridge.service"
systemctl is-active --quiet xfsm-redis-bridge.service && fail "the package started xfsm-redis-bridge.service"
if [ $http = 1 ]; then
        getent passwd xfsm-http > /dev/null || fail "no user xfsm-http"
        systemctl is-enabled --quiet xfsm-http.socket && fail "the package enabled xfsm-http.socket"
        systemctl is-active --quiet xfsm-http.socket && fail "the package started xfsm-http.socket"
fi
ok "xfsmd.service enabled; xfsm-redis-bridge.service (and xfsm-http.socket) neither enabled nor started"

# -- a component from packaged files only ----------------------------------------------------
cp /usr/share/doc/xfsm/examples/order.yaml /usr/share/doc/xfsm/examples/payment.yaml /etc/xfsm/components/
xfsmctl enable order > /dev/null || fail "xfsmctl enable order"
xfsmctl enable payment > /dev/null || fail "xfsmctl enable payment"
systemctl start xfsm@order || fail "systemctl start xfsm@order"
[ "$(systemctl show -p User --value xfsm@order.service)" = xfsm ] || fail "xfsm@order does not run as xfsm"
[ "$(stat -c %U:%a /var/lib/xfsm/order)" = xfsm:750 ] || fail "/var/lib/xfsm/order is $(stat -c %U:%a /var/lib/xfsm/order)"
ok "xfsmctl enable order && systemctl start xfsm@order (the example component of the package)"

# -- the demo cascade: an Order validated moves its Payments (payment bus-activated) ------------
P1=$(xfsmctl create PaymentComponent Payment --context '{"orderId":"ORD-1"}') || fail "create Payment"
P2=$(xfsmctl create PaymentComponent Payment --context '{"orderId":"ORD-1"}') || fail "create Payment"
systemctl is-active --quiet xfsm@payment.service || fail "the call did not bus-activate xfsm@payment"
O=$(xfsmctl create OrderComponent Order --context '{"orderId":"ORD-1","amount":10}') || fail "create Order"
st=$(xfsmctl send OrderComponent "$O" VALIDATE) || fail "send VALIDATE"
[ "$st" = Validated ] || fail "VALIDATE: $st"
moved() { [ "$(xfsmctl instances PaymentComponent --state Processing | grep -c -e "$P1" -e "$P2")" = 2 ]; }
wait_for 100 moved || fail "the Payments did not move to Processing"
ok "the demo cascade: VALIDATE of the Order moved both Payments to Processing"

# -- polkit denies an unprivileged user --------------------------------------------------------
useradd -m -s /bin/bash alice
before=$(xfsmctl instances OrderComponent | grep -cE '^[0-9a-f]{8}-')
out=$(runuser -u alice -- xfsmctl --no-ask-password create OrderComponent Order 2>&1) && fail "alice could create: $out"
echo "$out" | grep -qiE 'denied|authoriz|authentic' || fail "alice's create: $out"
out=$(runuser -u alice -- xfsmctl --no-ask-password send OrderComponent "$O" COMPLETE 2>&1) && fail "alice could send: $out"
[ "$(xfsmctl instances OrderComponent | grep -cE '^[0-9a-f]{8}-')" = "$before" ] || fail "a denied create created an instance"
xfsmctl instances OrderComponent --state Validated | grep -q "$O" || fail "a denied send moved the order"
runuser -u alice -- xfsmctl instances OrderComponent | grep -q "$O" || fail "alice cannot list"
ok "polkit denies alice create and send (nothing changes); she may list"

# -- bash completion: verbs, stems, components and instance ids from the bus --------------------
complete_line() { # the completions of the words given, the last one being completed
        bash -c '. /usr/share/bash-completion/completions/xfsmctl
                COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _xfsmctl; printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
complete_line xfsmctl en | grep -qx enable || fail "completion of verbs"
complete_line xfsmctl enable pay | grep -qx payment || fail "completion of stems"
complete_line xfsmctl show Ord | grep -qx OrderComponent || fail "completion of components"
complete_line xfsmctl send OrderComponent "${O:0:4}" | grep -qx "$O" || fail "completion of instance ids"
ok "bash completion: verbs, stems, components and instance ids from the bus"

# == upgrade with live state ===================================================================
cat > /etc/xfsm/components/tally.yaml <<'YAML'
name: Tally
stateMachines:
  - name: Counter
    initialState: Open
    states:
      - name: Open
        type: entry
    transitions:
      - from: Open
        to: Open
        event: ADD
        type: internal
        actions:
          - assign:
              n: "n + event.k"
  - name: Alarm
    initialState: Armed
    states:
      - name: Armed
        type: entry
      - name: Rang
        type: final
    transitions:
      - from: Armed
        to: Rang
        event: RING
        type: timeout
        timeoutMs: 3600000
YAML
xfsmctl enable tally > /dev/null || fail "xfsmctl enable tally"
systemctl start xfsm@tally || fail "systemctl start xfsm@tally"
C=$(xfsmctl create Tally Counter --context '{"n":0}') || fail "create Counter"
A=$(xfsmctl create Tally Alarm) || fail "create Alarm"
xfsmctl show Tally "$A" | grep -q 'Timer: RING' || fail "no timer armed on the Alarm"
orders_before=$(xfsmctl instances OrderComponent | grep -cE '^[0-9a-f]{8}-')
payments_before=$(xfsmctl instances PaymentComponent | grep -cE '^[0-9a-f]{8}-')

# the stream: ADD {k:1} N times, each with its event id, each retried until answered
total=400
stream() {
        local i acked=0 retried=0
        for i in $(seq 1 $total); do
                for _ in $(seq 600); do
                        if busctl --system --timeout=10 call org.xfsm1.Tally /org/xfsm1/Tally org.xfsm1.Component \
                                SendEx 'sssa{sv}' "$C" ADD '{"k":1}' 1 event_id s "e$i" > /dev/null 2>&1; then
                                acked=$((acked + 1))
                                break
                        fi
                        retried=$((retried + 1))
                        sleep 0.1
                done
        done
        echo "$acked $retried" > /tmp/acked
}
stream &
stream_pid=$!
wait_for 300 bash -c "xfsmctl show Tally $C | grep -q '\"n\":[1-9][0-9]'" || fail "the stream did not start"
pid_tally=$(systemctl show -p MainPID --value xfsm@tally.service)
pid_order=$(systemctl show -p MainPID --value xfsm@order.service)
before_upgrade=$(xfsmctl show Tally "$C" | sed -n 's/.*"n":\([0-9]*\).*/\1/p')
mapfile -t new < <(debs /root/debs/new)
apt_q install "${new[@]}" || fail "apt install ${new[*]}"
during=$(xfsmctl show Tally "$C" | sed -n 's/.*"n":\([0-9]*\).*/\1/p')
wait "$stream_pid"
read -r acked retried < /tmp/acked
[ "$(dpkg-query -W -f='${Version}' xfsm)" = "$new_version" ] || fail "xfsm is not at $new_version"
pid_tally2=$(systemctl show -p MainPID --value xfsm@tally.service)
pid_order2=$(systemctl show -p MainPID --value xfsm@order.service)
[ "$pid_tally2" != 0 ] && [ "$pid_tally2" != "$pid_tally" ] || fail "xfsm@tally was not restarted ($pid_tally, $pid_tally2)"
[ "$pid_order2" != 0 ] && [ "$pid_order2" != "$pid_order" ] || fail "xfsm@order was not restarted ($pid_order, $pid_order2)"
case $(readlink /proc/"$pid_tally2"/exe) in *deleted*) fail "xfsm@tally runs the old program" ;; esac
ok "apt install of $new_version restarted the running workers (xfsm@tally $pid_tally -> $pid_tally2, xfsm@order $pid_order -> $pid_order2)"

final=$(xfsmctl show Tally "$C" | sed -n 's/.*"n":\([0-9]*\).*/\1/p')
echo "# stream: sent $total, acknowledged $acked, counter $final; $before_upgrade applied when the upgrade began, $during when it ended; $retried calls refused or unanswered during the restarts, retried with the same event id"
[ "$acked" = "$total" ] || fail "only $acked of $total events were acknowledged"
[ "$final" = "$acked" ] || fail "the counter is $final after $acked acknowledged events"
ok "nothing acknowledged lost: $acked events acknowledged, the counter is $final"
xfsmctl show Tally "$A" | grep -q 'Timer: RING' || fail "the Alarm's timer is gone after the upgrade"
xfsmctl instances Tally --state Armed | grep -q "$A" || fail "the Alarm is not Armed"
[ "$(xfsmctl instances OrderComponent | grep -cE '^[0-9a-f]{8}-')" = "$orders_before" ] || fail "orders lost"
[ "$(xfsmctl instances PaymentComponent | grep -cE '^[0-9a-f]{8}-')" = "$payments_before" ] || fail "payments lost"
xfsmctl instances OrderComponent --state Validated | grep -q "$O" || fail "the Order is no longer Validated"
ok "every instance is there after the upgrade ($orders_before orders, $payments_before payments, the counter, the Alarm with its timer armed)"

# == remove: stops, keeps configuration and state ================================================
# what an administrator enables: a worker's socket, the bridge and the HTTP front's socket
# (not started: the bridge needs its settings, the socket would bind the host's port 3000)
systemctl enable xfsm@order.socket > /dev/null 2>&1 || fail "systemctl enable xfsm@order.socket"
admin_units="xfsm-redis-bridge.service"
[ $http = 0 ] || admin_units="$admin_units xfsm-http.socket"
for u in $admin_units; do
        systemctl enable "$u" > /dev/null 2>&1 || fail "systemctl enable $u"
        systemctl is-enabled --quiet "$u" || fail "$u is not enabled after systemctl enable"
done
apt_q remove xfsm || fail "apt remove xfsm"
for p in xfsm xfsm-redis-bridge $([ $http = 0 ] || echo xfsm-http); do
        [ "$(dpkg-query -W -f='${Status}' "$p")" = "deinstall ok config-files" ] || fail "$p is not removed"
done
active=$(systemctl list-units --no-legend --plain --state=active,activating 'xfsm*' | awk '{print $1}')
[ -z "$active" ] || fail "still active after remove: $active"
for e in /proc/[0-9]*/exe; do
        case $(readlink "$e" 2> /dev/null) in */xfsmd | */xfsmd\ *) fail "an xfsmd still runs ($e)" ;; esac
done
[ -f /etc/xfsm/xfsm.conf ] && [ -f /etc/xfsm/components/tally.yaml ] || fail "configuration gone on remove"
[ -d /var/lib/xfsm/tally ] && [ -d /var/lib/xfsm/order ] || fail "state gone on remove"
ok "apt remove xfsm: every xfsm unit stopped; /etc/xfsm and /var/lib/xfsm kept"

# == purge ========================================================================================
apt_q purge xfsm xfsm-redis-bridge libxfsm0 $([ $http = 0 ] || echo xfsm-http) || fail "apt purge"
for f in /etc/xfsm /var/lib/xfsm /var/lib/xfsm-exec /var/lib/xfsm-bridge /run/xfsm; do
        [ -e "$f" ] && fail "$f is still there after purge"
done
left=$(ls /usr/share/dbus-1/system-services/org.xfsm1.* /etc/dbus-1/system.d/org.xfsm1.* 2>/dev/null || true)
[ -z "$left" ] || fail "the files of xfsmctl enable are still there: $left"
links=$(find /etc/systemd/system -name '*xfsm*' 2>/dev/null)
[ -z "$links" ] || fail "unit links left: $links"
systemctl daemon-reload
units=$(systemctl list-units --all --no-legend --plain 'xfsm*' | awk '$3 != "inactive" || $2 != "not-found" {print $1}')
[ -z "$units" ] || fail "xfsm units still loaded: $units"
[ -z "$(systemctl list-unit-files --no-legend 'xfsm*')" ] || fail "xfsm unit files left"
getent passwd xfsm > /dev/null || fail "the user xfsm was removed"
ok "apt purge: /etc/xfsm, /var/lib/xfsm*, the enable files and the socket's enablement gone, no xfsm unit left; the user xfsm kept"

# nothing of xfsm enabled or running once every package is purged, the units the administrator
# enabled (xfsm@order.socket, $admin_units) included
# (with nothing matching, systemctl may exit 1: the checks after these two do not rest on them alone)
enabled=$({ systemctl list-unit-files --no-legend 'xfsm*' || true; } | awk '$2 ~ /^(enabled|linked|alias|indirect|generated)/ {print $1}')
[ -z "$enabled" ] || fail "xfsm units still enabled after purge: $enabled"
for u in xfsmd.service xfsm@order.socket $admin_units; do
        if systemctl is-enabled --quiet "$u" 2> /dev/null; then
                fail "$u is still enabled after purge"
        fi
done
wants=$(find /etc/systemd/system /run/systemd/system -path '*.wants/*' -name '*xfsm*' 2> /dev/null || true)
[ -z "$wants" ] || fail "links of an enablement left after purge: $wants"
running=$({ systemctl list-units --all --no-legend --plain --state=active,activating,deactivating,reloading 'xfsm*' || true; } | awk '{print $1}')
[ -z "$running" ] || fail "xfsm units still running after purge: $running"
for e in /proc/[0-9]*/exe; do
        case $(readlink "$e" 2> /dev/null) in */xfsm-* | */xfsmd | */xfsmd\ *) fail "an xfsm program still runs after purge ($e)" ;; esac
done
ok "apt purge: systemctl list-unit-files 'xfsm*' shows nothing enabled (the bridge's and the HTTP socket's enablement gone too), list-units nothing running"
echo "# $n checks passed"
