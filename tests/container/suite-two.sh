# SPDX-License-Identifier: LGPL-2.1-or-later
# The fault matrix of two xfsm nodes, sourced by tests/container/run-two.sh
# (on the host, with its functions: on NODE CMD..., node_boot, node_setup,
# node_start, node_stop, wait_bridges, redis_start, redis_kill, relay_pause,
# relay_resume). Node A hosts StreamSender, node B StreamReceiver (which takes
# only the next number, and counts). Each row sends N numbered NEXT events to
# the sender on node A, applies a fault in the middle, waits, and reads the
# receiver's context on node B: every acknowledged number applied, none twice
# (the receiver takes only the next number; any other NUM, applied again or
# out of order, is counted in late).

N=${XFSM_TWO_N:-100}
half=$((N / 2))
tn=0 failed=0
ok() { tn=$((tn + 1)); echo "ok $tn - $*"; }
notok() { tn=$((tn + 1)); failed=1; echo "not ok $tn - $*"; }

comp_call() { # NODE COMPONENT METHOD SIG ARGS...
        local n=$1 c=$2
        shift 2
        on "$n" busctl --system call "org.xfsm1.$c" "/org/xfsm1/$c" org.xfsm1.Component "$@"
}
id_of() { sed -n 's/^os "[^"]*" "\([^"]*\)"/\1/p'; }
# the receiver's context: "LAST COUNT LATE", or nothing when it cannot be read now
receiver_ctx() {
        local out
        out=$(comp_call nodeB StreamReceiver GetContext s "$R" 2>/dev/null) || return 0
        echo "$out" | sed -n 's/.*last\\":\([0-9]*\).*/\1/p' | tr '\n' ' '
        echo "$out" | sed -n 's/.*count\\":\([0-9]*\).*/\1/p' | tr '\n' ' '
        echo "$out" | sed -n 's/.*late\\":\([0-9]*\).*/\1/p'
}

R=$(comp_call nodeB StreamReceiver CreateInstance ss Counter '{"last":0,"count":0,"late":0}' | id_of)
S=$(comp_call nodeA StreamSender CreateInstance ss Sender '{}' | id_of)
[ -n "$R" ] && [ -n "$S" ] || { echo "not ok - no receiver or sender instance"; exit 1; }
next=1 # the next number to send
send() { on nodeA bash /usr/share/xfsm-tests/send-stream.sh "$S" "$1" "$2"; }

restarts() { on "$1" systemctl show -p NRestarts --value "$2"; }
rlen() { rcli xlen 'xfsm:{StreamReceiver}:inbox' 2>/dev/null || echo 0; }

printf '# %-60s | %4s | %12s | %7s | %13s\n' fault sent acknowledged applied "applied twice"
# row NAME FAULT [AFTER [CHECK]]: N numbers sent from node A in the background;
# once the receiver took half of them, FAULT, then AFTER (the recovery); the
# sends finish, the receiver is waited for. CHECK (run after AFTER) proves the
# fault happened.
row() {
        local name=$1 fault=$2 after=${3:-:} check=${4:-:} base count0 late0 acked sp last count late i applied twice
        read -r base count0 late0 <<< "$(receiver_ctx)"
        send "$next" $((next + N - 1)) > "$state/acked" &
        sp=$!
        for i in $(seq 400); do
                read -r last count late <<< "$(receiver_ctx)"
                [ "${last:-0}" -ge $((base + half)) ] && break
                sleep 0.05
        done
        eval "$fault"
        eval "$after"
        wait "$sp"
        acked=$(cat "$state/acked")
        next=$((next + N))
        for i in $(seq 600); do
                read -r last count late <<< "$(receiver_ctx)"
                [ -n "${last:-}" ] && [ "$last" -ge $((base + acked)) ] && break
                sleep 0.2
        done
        sleep 1 # anything late, applied twice, would show now
        read -r last count late <<< "$(receiver_ctx)"
        applied=$((${last:-$base} - base))
        twice=$(( ${late:-0} - ${late0:-0} ))
        printf '# %-60s | %4s | %12s | %7s | %13s\n' "$name" "$N" "$acked" "$applied" "$twice"
        if ! eval "$check"; then
                notok "$name: the fault did not happen ($check)"
        elif [ "$applied" = "$acked" ] && [ "$acked" = "$N" ] && [ "$twice" = 0 ]; then
                ok "$name: every acknowledged event applied ($applied of $acked), none twice"
        else
                notok "$name: sent $N, acknowledged $acked, applied $applied, applied twice $twice"
                on nodeA journalctl --no-pager -n 40 -u xfsm@sender.service -u xfsm-redis-bridge.service >&2 || true
                on nodeB journalctl --no-pager -n 40 -u xfsm@receiver.service -u xfsm-redis-bridge.service >&2 || true
                # the next row starts where this one ended
                next=$(( ${last:-$base} + 1 ))
        fi
}

row "none (baseline)" ":"
r0=$(restarts nodeB xfsm@receiver.service)
row "systemctl kill -s KILL the receiving worker (node B)" \
        "on nodeB systemctl kill -s KILL xfsm@receiver.service" ":" \
        '[ "$(restarts nodeB xfsm@receiver.service)" -gt "$r0" ]'
r0=$(restarts nodeA xfsm@sender.service)
row "systemctl kill -s KILL the sending worker (node A)" \
        "on nodeA systemctl kill -s KILL xfsm@sender.service" ":" \
        '[ "$(restarts nodeA xfsm@sender.service)" -gt "$r0" ]'
r0=$(restarts nodeA xfsm-redis-bridge.service)
row "systemctl kill -s KILL the sending bridge (node A)" \
        "on nodeA systemctl kill -s KILL xfsm-redis-bridge.service" ":" \
        '[ "$(restarts nodeA xfsm-redis-bridge.service)" -gt "$r0" ]'
r0=$(restarts nodeB xfsm-redis-bridge.service)
row "systemctl kill -s KILL the receiving bridge (node B)" \
        "on nodeB systemctl kill -s KILL xfsm-redis-bridge.service" ":" \
        '[ "$(restarts nodeB xfsm-redis-bridge.service)" -gt "$r0" ]'
r0=$(cat "$state/redis.pid")
row "kill -9 of the host's redis-server, started again 2 s later" \
        "redis_kill" "sleep 2; redis_start" \
        '[ "$(cat "$state/redis.pid")" != "$r0" ]'
# proof: what A sent meanwhile waited in Redis, not taken by B
row "node B cut off from Redis for 20 s (its relay paused)" \
        "relay_pause nodeB" 'sleep 20; waiting=$(rlen); relay_resume nodeB' \
        '[ "$waiting" -gt 0 ]'
r0=$(container_leader "$(pidfile nodeB)")
row "node B's container stopped and booted again" \
        "node_stop nodeB" "node_boot nodeB; node_setup nodeB; node_start nodeB" \
        '[ "$(container_leader "$(pidfile nodeB)")" != "$r0" ]'

# the sender under durability none (a drop-in), restarted mid-stream: a new incarnation
xfsmd_cmd=$(on nodeA systemctl show -p ExecStart --value xfsm@sender.service | sed -n 's/.*path=\([^ ;]*\).*/\1/p')
on nodeA mkdir -p /etc/systemd/system/xfsm@sender.service.d
printf '[Service]\nExecStart=\nExecStart=%s --system --component %%i --state-dir /var/lib/xfsm --durability none\n' \
        "$xfsmd_cmd" | on nodeA tee /etc/systemd/system/xfsm@sender.service.d/durability.conf > /dev/null
on nodeA systemctl daemon-reload
on nodeA systemctl restart xfsm@sender.service
on nodeA systemctl show -p ExecStart --value xfsm@sender.service | grep -q -- '--durability none' \
        || notok "the drop-in did not set --durability none"
row "systemctl restart of the sender under durability none" \
        "on nodeA systemctl restart xfsm@sender.service" ":" \
        '[ "$(on nodeA journalctl -o cat -u xfsm@sender.service | grep -c "policy none")" -ge 2 ]'
on nodeA rm -r /etc/systemd/system/xfsm@sender.service.d
on nodeA systemctl daemon-reload

read -r last count late <<< "$(receiver_ctx)"
if [ "${last:-}" = $((next - 1)) ] && [ "${count:-}" = "$last" ] && [ "${late:-}" = 0 ]; then
        ok "in all: the receiver took 1..$last, each once, in order (count $count, none late or again)"
else
        notok "in all: sent 1..$((next - 1)), the receiver's last ${last:-?}, count ${count:-?}, late ${late:-?}"
fi
say "the matrix took $(($(date +%s) - t0)) s in all"
