/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Routed events to components of other processes (SPEC section 2, routed
 * events). Each carries (source component, source journal sequence, rule
 * index). The sender keeps it in its outbox (in the journal record of the
 * step that made it) until the target acknowledges it, which the target does
 * once its own record is durable; the target keeps a high-water mark per
 * source, so that a redelivery after a crash has no second effect. Delivery
 * is in order per target: a target that is not running is called through
 * the bus (activating it if it is enabled); one that does not exist keeps
 * the outbox waiting, retried with a back-off. */

#include <stdbool.h>
#include <stdint.h>

#include "xfsm.h"

typedef struct Manager Manager;

#define OUTBOX_LIMIT 10000 /* routed events waiting for one target: past it, Send answers Busy */

typedef struct Hwm {
        char *component, *source;
        uint64_t seq;
        unsigned rule;
} Hwm;

typedef struct OutEntry {
        char *target;
        char *source;
        uint64_t seq;
        unsigned rule;
        char *json; /* the routed event's wire form */
        bool durable; /* its record is synced: it may leave */
} OutEntry;

/* A routed event out of a committed step, whose record has journal seq. */
int outbox_add(Manager *m, const char *source, uint64_t seq, unsigned rule, const xfsm_routed *r);
/* The records of the step are durable: what waited may go. */
void outbox_durable(Manager *m);
/* Start deliveries (after start-up, after a retry timer). */
void outbox_kick(Manager *m);
/* Recovery: an entry from the journal; an acknowledgement. */
int outbox_restore(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule, const char *json);
void outbox_acked(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule);
/* Waiting entries for target. */
size_t outbox_pending(Manager *m, const char *target);
void outbox_free(Manager *m);

/* Receiver: has (source, seq, rule) taken effect here already? */
bool hwm_seen(Manager *m, const char *component, const char *source, uint64_t seq, unsigned rule);
void hwm_set(Manager *m, const char *component, const char *source, uint64_t seq, unsigned rule);
