/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Calls from any node (xfsm-redis-bridge(8), CALLS FROM OTHER NODES).
 *
 * On the caller's node: org.xfsm1.Component at /org/xfsm1/Bridge/C for each
 * component C homed on another node (CreateInstance, Send, SendEx,
 * Broadcast, ListInstances, GetInstance, GetContext, GetHistory), authorized
 * here with polkit as xfsmd(8) says (the machine of an instance is asked of
 * the home once, then kept), unprivileged callers rate-limited, then
 * forwarded as a signed "call" entry into xfsm:{C}:calls with a deadline
 * counted in Redis time from the entry's id. A Send goes as a SendEx with
 * an event id made here, so that it takes effect at most once. The answer
 * comes back as one or more signed "reply" entries in this node's
 * xfsm:node:{N}:replies; no home alive, Redis unreachable or no answer in
 * time: org.xfsm1.Error.Unavailable.
 *
 * On the home: the calls streams of the components homed here are read
 * (from the time the bridge started: a call made while it was down is not
 * run late), each call checked (signed by an accepted node, not seen
 * before, its deadline not passed), logged with its origin
 * (XFSM_ORIGIN_NODE=, XFSM_ORIGIN_UID=), made to the local worker over the
 * bus as this bridge's user, and answered into the caller's replies
 * stream, split in parts when large.
 *
 * The transitions the homes publish (xfsm:{C}:transitions) are relayed as
 * org.xfsm1.Instance.Transition signals at
 * /org/xfsm1/Bridge/C/<Machine>/<id>, for xfsmctl watch.
 *
 * One connection of its own reads the calls streams and this node's
 * replies stream together (XREAD BLOCK), another is subscribed to the
 * transitions; writes go through the bridge's writer connection. */

#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "access.h"
#include "directory.h"
#include "node-key.h"
#include "redis.h"

/* How long a forwarded call may take, end to end. */
#define CALLS_TIMEOUT_MS 10000

typedef struct Calls Calls;

typedef struct CallsStats {
        uint64_t forwarded;   /* calls sent to other nodes */
        uint64_t answered;    /* of those, answered by their home */
        uint64_t unavailable; /* of those, answered Unavailable here */
        uint64_t served;      /* calls from other nodes run here */
        uint64_t expired;     /* calls from other nodes not run: past their deadline */
        uint64_t refused;     /* entries that failed their checks */
} CallsStats;

int calls_new(Calls **ret, sd_event *event, sd_bus *bus, const RedisTarget *target, RedisConn *writer,
              NodeKeyring *keyring, Directory *directory, Access *access);
Calls *calls_free(Calls *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Calls *, calls_free);

/* Run the calls of component (homed here) from now on. Idempotent. */
int calls_add(Calls *c, const char *component);

/* Relay the transitions of component (homed elsewhere) as Transition
 * signals under /org/xfsm1/Bridge/component. Idempotent. */
int calls_follow(Calls *c, const char *component);

/* Stop running the calls of component (released: homed elsewhere now). */
void calls_remove(Calls *c, const char *component);

CallsStats calls_stats(const Calls *c);
