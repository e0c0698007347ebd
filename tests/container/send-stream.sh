#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside node A (tests/container/run-two.sh): NEXT {n} for n = FROM..TO
# to the StreamSender instance ID, each with the event id n<n> (SendEx: a
# retry after a lost answer has no second effect), each retried until it is
# answered (the worker may be restarting), for at most 120 s each. Prints
# how many were acknowledged.
#
#   send-stream.sh ID FROM TO
set -u
id=$1 from=$2 to=$3 acked=0
for n in $(seq "$from" "$to"); do
        for _ in $(seq 600); do
                if busctl --system --timeout=10 call org.xfsm1.StreamSender /org/xfsm1/StreamSender org.xfsm1.Component \
                        SendEx 'sssa{sv}' "$id" NEXT "{\"n\":$n}" 1 event_id s "n$n" > /dev/null 2>&1; then
                        acked=$((acked + 1))
                        break
                fi
                sleep 0.2
        done
done
echo "$acked"
