/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* xcomponent-ai's Redis wire format (xfsm-redis-bridge(8), XCOMPONENT-AI
 * COMPATIBILITY; docs/xcomponent-migration.md), with XcomponentCompat=yes:
 * xcomponent-ai `serve` processes and xfsm nodes share components during a
 * migration.
 *
 * In: for each component C homed on this node, the bridge subscribes to the
 * pub/sub channel xcomponent:C (on a connection of its own) and delivers
 * each message to C's worker through Deliver, in the order received, as a
 * routed event from source "xcomponent:S" (S the message's
 * sourceComponent, "unknown" without one, with one xfsm cannot carry, or past
 * 1024 sources) numbered by the bridge under an
 * incarnation made at each start, so that the worker journals it and
 * applies it once like any routed event. The message's filters travel in
 * the routed event's "filters" and the worker applies them with JavaScript's
 * comparison rules, each selected instance taking the event as a direct
 * send; targetState "*", "" or absent means every state. A message no
 * instance takes is dropped, as xcomponent-ai drops it, and counted.
 * Malformed messages (not JSON, wrong types, over 1 MiB) are counted,
 * logged once per kind and change nothing.
 *
 * Out: for each component listed in XcomponentComponents= (served by
 * xcomponent-ai), the bridge serves Deliver and DeliverBatch at
 * /org/xfsm1/Bridge/C (root and user xfsm only), where the workers'
 * outboxes hand it their routed events for C, and publishes each on
 * xcomponent:C in xcomponent-ai's format: the keys in its order, "filters"
 * only when the rule has matchingRules, each filter's value the one the
 * sender resolved. A creation (cross_component without targetEvent) has no
 * such message: it is taken, counted as refused and logged once.
 *
 * Both ways are at most once: xcomponent-ai's side is plain pub/sub. */

#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "access.h"
#include "redis.h"

typedef struct Xcompat Xcompat;

typedef struct XcompatStats {
        uint64_t received;  /* messages read from xcomponent:C channels */
        uint64_t delivered; /* taken by at least one instance */
        uint64_t dropped;   /* taken by none (no transition, no instance selected), or refused by the worker */
        uint64_t malformed; /* never delivered: not JSON, wrong types, too large */
        uint64_t overflow;  /* dropped because too many waited for a worker */
        uint64_t published; /* routed events published for xcomponent-ai */
        uint64_t refused;   /* routed events xcomponent-ai has no message for (creations) */
} XcompatStats;

/* writer: the bridge's command connection (PUBLISH); target: for the
 * subscribing connection; components: XcomponentComponents= (NULL: none). */
int xcompat_new(Xcompat **ret, sd_event *event, sd_bus *bus, RedisConn *writer, const RedisTarget *target,
                Access *access, char *const *components);
Xcompat *xcompat_free(Xcompat *x);
DEFINE_TRIVIAL_CLEANUP_FUNC(Xcompat *, xcompat_free);

/* Subscribe to xcomponent:component (homed here). Idempotent. */
int xcompat_add_home(Xcompat *x, const char *component);
XcompatStats xcompat_stats(const Xcompat *x);
