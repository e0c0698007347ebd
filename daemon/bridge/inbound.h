/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Routed events in (xfsm-redis-bridge(8), ROUTED EVENTS): for each
 * component homed on this node, its stream xfsm:{C}:inbox read through the
 * consumer group "xfsm" as the one consumer "home", on a connection of its
 * own (a blocking read holds up its connection). At every (re)connection
 * the pending entries (read before, never acknowledged) come first, in id
 * order, then new ones. Entries are delivered one after another to the
 * component's worker on this host (Deliver, through its socket or the bus,
 * which activates it); the same entry is retried after any error that is
 * not definitive, and nothing after it goes meanwhile; an entry is
 * acknowledged (XACK) only once the worker answered, that is once its
 * record is durable, and the stream is trimmed below it (XTRIM MINID).
 * Entries that can never apply (not signed by a known node, a bad MAC, a
 * source not homed at its signer, not a routed event, too large) go to
 * xfsm:{C}:dead with their reason, logged once per reason, and are
 * acknowledged. */

#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "directory.h"
#include "node-key.h"
#include "redis.h"

typedef struct Inbound Inbound;

typedef struct InboundStats {
        uint64_t delivered, dead, waiting; /* waiting: read, not yet taken by the worker */
} InboundStats;

int inbound_new(Inbound **ret, sd_event *event, sd_bus *bus, const RedisTarget *target, NodeKeyring *keyring,
                Directory *directory);
Inbound *inbound_free(Inbound *in);
DEFINE_TRIVIAL_CLEANUP_FUNC(Inbound *, inbound_free);

/* Read the inbox of component (homed here). Idempotent. */
int inbound_add(Inbound *in, const char *component);
/* Stop reading the inbox of component (released: homed elsewhere now). */
void inbound_remove(Inbound *in, const char *component);
/* Counts for one component (NULL: all). */
InboundStats inbound_stats(const Inbound *in, const char *component);
