#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm and run the demo: an Order and two Payments in two components.
# Validating the Order cascades PROCESS to every Payment in Pending (the demo
# component has no matchingRules, as in xcomponent-ai); the variant with
# matchingRules on orderId moves only the Payment of that order.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
xfsm_install_deps
xfsm_build build

X=build/tools/xfsmctl
D=tests/data

echo "== xfsmctl validate: the two demo components"
$X validate $D/xcomponent/demo-order.yaml $D/xcomponent/demo-payment.yaml
echo
echo "== xfsmctl simulate: VALIDATE cascades PROCESS to every Payment in Pending"
$X simulate $D/xcomponent/demo-order.yaml $D/xcomponent/demo-payment.yaml --machine Order \
        --context '{"orderId":"ORD-1","amount":99.5,"customerId":"CUST-7"}' \
        --create 'Payment:{"orderId":"ORD-1"}' --create 'Payment:{"orderId":"ORD-2"}' \
        VALIDATE COMPLETE
echo
echo "== the same with matchingRules on orderId: only ORD-1's Payment moves"
$X simulate $D/demo-order-matching.yaml $D/xcomponent/demo-payment.yaml --machine Order \
        --context '{"orderId":"ORD-1","amount":99.5,"customerId":"CUST-7"}' \
        --create 'Payment:{"orderId":"ORD-1"}' --create 'Payment:{"orderId":"ORD-2"}' \
        VALIDATE 2>/dev/null
echo
echo "== xfsmctl graph --format mermaid"
$X graph $D/xcomponent/demo-order.yaml --format mermaid
