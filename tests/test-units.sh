#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The units as built: systemd-analyze verify passes, and xfsm@.service,
# xfsmd.service, xfsm-exec@.service, xfsm-redis-bridge.service and
# xfsm-http.service are rated 2.0 or better by systemd-analyze security
# (xfsmd(8), xfsm-redis-bridge(8), xfsm-http(8)).
set -eu
units=$1       # the configured units (build tree)
sources=$2     # units/ in the source tree
xfsmd=$3
bridge=$4      # the built xfsm-redis-bridge
http=$5        # the built xfsm-http
if ! command -v systemd-analyze >/dev/null; then
        echo "SKIPPED: systemd-analyze is not installed"
        exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# the installed ExecStart is not there in a build tree: point it at the built daemon
sed "s|^ExecStart=[^ ]*|ExecStart=$xfsmd|" "$units/xfsm@.service" > "$dir/xfsm@.service"
sed "s|^ExecStart=[^ ]*|ExecStart=$xfsmd|" "$units/xfsmd.service" > "$dir/xfsmd.service"
sed "s|^ExecStart=[^ ]*|ExecStart=$xfsmd|" "$units/xfsm-exec@.service" > "$dir/xfsm-exec@.service"
sed "s|^ExecStart=[^ ]*|ExecStart=$bridge|" "$units/xfsm-redis-bridge.service" > "$dir/xfsm-redis-bridge.service"
sed "s|^ExecStart=[^ ]*|ExecStart=$http|" "$units/xfsm-http.service" > "$dir/xfsm-http.service"
cp "$sources/xfsm@.socket" "$sources/xfsm-http.socket" "$dir/"
cd "$dir"
out=$(systemd-analyze verify --man=no ./xfsm@.socket ./xfsm@.service ./xfsmd.service ./xfsm-exec@.service \
        ./xfsm-redis-bridge.service ./xfsm-http.socket ./xfsm-http.service 2>&1 || true)
# a unit whose user does not exist yet on this machine is fine: sysusers.d creates it
bad=$(printf '%s\n' "$out" | grep -v -e '^$' -e 'User=xfsm' -e 'Group=xfsm' -e 'xfsm.*user.*not exist' || true)
if [ -n "$bad" ]; then
        printf 'systemd-analyze verify:\n%s\n' "$out"
        exit 1
fi
score=$(systemd-analyze security --offline=true ./xfsm@.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security xfsm@.service: $score"
mscore=$(systemd-analyze security --offline=true ./xfsmd.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security xfsmd.service: $mscore"
escore=$(systemd-analyze security --offline=true ./xfsm-exec@.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security xfsm-exec@.service: $escore"
bscore=$(systemd-analyze security --offline=true ./xfsm-redis-bridge.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security xfsm-redis-bridge.service: $bscore"
hscore=$(systemd-analyze security --offline=true ./xfsm-http.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security xfsm-http.service: $hscore"
awk -v s="$hscore" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "xfsm-http.service is exposed at $hscore"; exit 1; }
awk -v s="$bscore" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "xfsm-redis-bridge.service is exposed at $bscore"; exit 1; }
awk -v s="$escore" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "xfsm-exec@.service is exposed at $escore"; exit 1; }
awk -v s="$mscore" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "xfsmd.service is exposed at $mscore"; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
