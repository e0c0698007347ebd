# SPDX-License-Identifier: LGPL-2.1-or-later
# Calls from any node, sourced by tests/container/run-two.sh after the fault
# matrix (suite-two.sh: its helpers on, comp_call, ok, notok, wait_bridges).
# Node A hosts StreamSender, node B StreamReceiver; xfsmctl on either node
# reaches the other's component through the bridges, polkit is asked on the
# caller's node, a home that is down answers Unavailable with no late
# effect, a SendEx repeated with its event id across bridge restarts takes
# effect once, and the home's journal names the caller's node.

ctl() { # NODE ARGS...: xfsmctl on NODE as root
        local n=$1
        shift
        on "$n" xfsmctl --no-ask-password "$@"
}
# the count of the receiver instance $1, read on its home
count_of() {
        comp_call nodeB StreamReceiver GetContext s "$1" 2>/dev/null | sed -n 's/.*count\\":\([0-9]*\).*/\1/p'
}

# every verb, from node A, on node B's component
C=$(ctl nodeA create StreamReceiver Counter --context '{"last":0,"count":0,"late":0}') || true
if [ -n "$C" ] && [ -n "$(comp_call nodeB StreamReceiver GetInstance s "$C" 2>/dev/null)" ]; then
        ok "xfsmctl create on node A made an instance on node B ($C)"
else
        notok "xfsmctl create on node A for node B's StreamReceiver: '$C'"
fi
out=$(ctl nodeA send StreamReceiver "$C" NUM --payload '{"n":1}' 2>&1) || true
[ "$out" = Counting ] && [ "$(count_of "$C")" = 1 ] && ok "xfsmctl send from node A applied on node B" ||
        notok "xfsmctl send from node A: '$out', count $(count_of "$C")"
out=$(ctl nodeA show StreamReceiver "$C" 2>&1) || true
echo "$out" | grep -q '"count":1' && ok "xfsmctl show from node A reads node B's instance" ||
        notok "xfsmctl show from node A: $out"
out=$(ctl nodeA history StreamReceiver "$C" 2>&1) || true
echo "$out" | grep -q "Counting -> Counting on NUM" && ok "xfsmctl history from node A" ||
        notok "xfsmctl history from node A: $out"
out=$(ctl nodeA instances StreamReceiver 2>&1) || true
echo "$out" | grep -q "$C" && ok "xfsmctl instances from node A" || notok "xfsmctl instances from node A: $out"
out=$(ctl nodeA list 2>&1) || true
echo "$out" | grep -E -q "StreamReceiver .* remote .* nodeB" && ok "xfsmctl list on node A shows StreamReceiver on nodeB" ||
        notok "xfsmctl list on node A: $out"
# and back: node B on node A's component
S2=$(ctl nodeB create StreamSender Sender) || true
out=$(ctl nodeB show StreamSender "$S2" 2>&1) || true
echo "$out" | grep -q "Ready" && ok "and back: xfsmctl create and show on node B for node A's StreamSender" ||
        notok "xfsmctl on node B for node A's StreamSender: '$S2' $out"
out=$(ctl nodeB instances StreamSender 2>&1) || true
echo "$out" | grep -q "$S2" && ok "and back: xfsmctl instances on node B lists node A's instance" ||
        notok "xfsmctl instances on node B for node A's StreamSender: $out"
out=$(ctl nodeB list 2>&1) || true
echo "$out" | grep -E -q "StreamSender .* remote .* nodeA" && ok "and back: xfsmctl list on node B shows StreamSender on nodeA" ||
        notok "xfsmctl list on node B: $out"

# polkit on node A refuses an unprivileged user; nothing reaches node B
before=$(on nodeB journalctl -o cat -u xfsm-redis-bridge.service | grep -c "called from node nodeA" || true)
rc=0
out=$(on nodeA runuser -u nobody -- xfsmctl --no-ask-password send StreamReceiver "$C" NUM --payload '{"n":2}' 2>&1) ||
        rc=$?
sleep 1
after=$(on nodeB journalctl -o cat -u xfsm-redis-bridge.service | grep -c "called from node nodeA" || true)
if [ "$rc" != 0 ] && echo "$out" | grep -E -q "AccessDenied|InteractiveAuthorizationRequired" &&
        [ "$(count_of "$C")" = 1 ] && [ "$before" = "$after" ]; then
        ok "polkit on node A denied nobody a Send to node B's component; nothing reached node B"
else
        notok "nobody's Send from node A: rc $rc, '$out', count $(count_of "$C"), calls logged on B $before -> $after"
fi

# the home's bridge down: Unavailable, and no late effect once it is back
on nodeB systemctl stop xfsm-redis-bridge.service
t=$(date +%s)
rc=0
out=$(ctl nodeA send StreamReceiver "$C" NUM --payload '{"n":2}' 2>&1) || rc=$?
took=$(($(date +%s) - t))
on nodeB systemctl start xfsm-redis-bridge.service
wait_bridges || true
sleep 3
if [ "$rc" != 0 ] && echo "$out" | grep -q Unavailable && [ "$(count_of "$C")" = 1 ]; then
        ok "the home's bridge stopped: Unavailable in ${took} s, and no late effect after it came back"
else
        notok "a call to a stopped home: rc $rc, '$out', count $(count_of "$C")"
fi

# SendEx with an event id, repeated across both bridges' restarts: one effect
sendex() {
        for _ in $(seq 50); do
                ctl nodeA send StreamReceiver "$C" NUM --payload '{"n":2}' --event-id retried-2 2>/dev/null && return 0
                sleep 0.2
        done
        return 1
}
sendex || true
first=$(count_of "$C")
on nodeA systemctl restart xfsm-redis-bridge.service
on nodeB systemctl restart xfsm-redis-bridge.service
wait_bridges || true
sendex || true
if [ "$first" = 2 ] && [ "$(count_of "$C")" = 2 ]; then
        ok "a SendEx repeated with its event id across bridge restarts took effect once"
else
        notok "SendEx retried across restarts: count $first then $(count_of "$C")"
fi

# the origin, in node B's journal
n=$(on nodeB journalctl -o cat XFSM_ORIGIN_NODE=nodeA XFSM_COMPONENT=StreamReceiver | wc -l) || true
uid=$(on nodeB journalctl -o verbose XFSM_ORIGIN_NODE=nodeA | sed -n 's/^ *XFSM_ORIGIN_UID=//p' | sort -u | tr '\n' ' ')
[ "$n" -gt 0 ] && ok "node B's journal names the callers: $n calls with XFSM_ORIGIN_NODE=nodeA (uids $uid)" ||
        notok "no XFSM_ORIGIN_NODE=nodeA in node B's journal"
