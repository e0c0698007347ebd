/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Routed events out (xfsm-redis-bridge(8), ROUTED EVENTS): at
 * /org/xfsm1/Bridge/<C>, for each component C homed on another node, the
 * bridge serves org.xfsm1.Component's Deliver (root and user xfsm only):
 * the workers' outboxes hand it their routed events for C, one after
 * another per target. Each is signed for C's home node and added to
 * xfsm:{C}:inbox; the call is answered once Redis has it (and, with
 * MinReplicas=N, once WAIT confirmed it on N replicas within WaitMs).
 * Past InboxLimit entries the answer is org.xfsm1.Error.Busy; Redis
 * unreachable, org.xfsm1.Error.Unavailable: the outbox keeps the event and
 * tries again. */

#include <systemd/sd-bus.h>

#include "access.h"
#include "bridge-config.h"
#include "directory.h"
#include "node-key.h"
#include "redis.h"

typedef struct Outbound Outbound;

typedef struct OutboundStats {
        uint64_t sent, busy, failed;
} OutboundStats;

int outbound_new(Outbound **ret, sd_bus *bus, RedisConn *writer, NodeKeyring *keyring, Directory *directory,
                 Access *access, const BridgeConfig *config);
Outbound *outbound_free(Outbound *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Outbound *, outbound_free);

OutboundStats outbound_stats(const Outbound *o);
