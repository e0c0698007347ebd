/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bridge for operators (xfsm-redis-bridge(8), OPERATING): methods of
 * org.xfsm1.Bridge at /org/xfsm1/Bridge that xfsmctl bridge calls.
 *
 *   Status() -> s json            nodes (UUID, alive), components (home,
 *                                 its liveness, entries waiting, pending,
 *                                 dead), totals, rates and the settings a
 *                                 reload changes; open to all
 *   ListDead(s C, u count) -> s   the first count entries of xfsm:{C}:dead
 *   ReplayDead(s C) -> u          every dead entry of C back into its inbox
 *   Release(s C)                  the hand-over: C, homed here, is not any
 *                                 more (refused while its inbox holds
 *                                 entries or its worker's outbox is not
 *                                 empty); then its state directory moves
 *                                 to the node that takes it
 *   Decommission(s N)             forget node N for good: its heartbeat, its
 *                                 membership of xfsm:nodes, its replies
 *                                 stream (refused while N is alive or homes
 *                                 a component)
 *
 * ListDead, ReplayDead, Release and Decommission are for root and the bridge's user. */

#include <systemd/sd-bus.h>

#include "access.h"
#include "bridge-config.h"
#include "calls.h"
#include "directory.h"
#include "inbound.h"
#include "outbound.h"
#include "redis.h"

typedef struct Operate Operate;

/* What the bridge measures, for Status (the bridge updates it). */
typedef struct BridgeRates {
        double delivered_per_sec, sent_per_sec;
} BridgeRates;

typedef struct OperateDeps {
        sd_bus *bus;
        RedisConn *writer;
        Directory *directory;
        Inbound *inbound;
        Outbound *outbound;
        Calls *calls;
        Access *access;
        const BridgeRates *rates;
        const BridgeConfig *config; /* InboxLimit=, MinReplicas=, WaitMs= as in effect (a reload changes them) */
} OperateDeps;

int operate_new(Operate **ret, const OperateDeps *deps);
Operate *operate_free(Operate *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Operate *, operate_free);
