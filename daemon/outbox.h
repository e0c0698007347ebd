/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The outbox: routed events to components of other processes (docs/xfsmd.8,
 * ROUTED EVENTS), from the step that made them until their target took them.
 *
 * One queue per target component, in the order the events were made: the
 * oldest entries of a queue are delivered together, in order (up to
 * OUTBOX_BATCH at once: what piled up while the last delivery was out), and
 * the target takes a prefix of them (all, unless it stops at one it cannot
 * take now; it answers once its own records are durable); the next delivery
 * starts only after that answer, from the first entry not taken, so each
 * target sees its events in order; queues do not wait for each other, so a
 * target that is down or slow holds up only its own events. An entry leaves
 * only once the record that made it is durable. A delivery that failed or
 * took nothing is retried after a back-off (0.2 s doubling up to 30 s) per
 * queue.
 *
 * The outbox does not know how an entry reaches its target: ops->send
 * starts a delivery and the transport reports its end with
 * outbox_delivered(). Nor does it write journal records: ops->acked tells
 * the owner that an entry was taken, and this module writes and reads the
 * record forms of entries and acknowledgements (outbox_write_*,
 * outbox_read). */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "route-id.h"

#define OUTBOX_LIMIT 10000 /* routed events waiting in all queues: past it, Send answers Busy */
#define OUTBOX_BATCH 64    /* entries of one queue delivered together at most */

typedef struct Outbox Outbox;

typedef struct OutEntry {
        char *target;
        char *source, *incarnation;
        uint64_t seq;
        unsigned rule;
        char *json;   /* the routed event's wire form */
        bool durable; /* its record is durable: it may leave */
} OutEntry;

static inline RouteId out_entry_id(const OutEntry *e) {
        return (RouteId) { .source = e->source, .incarnation = e->incarnation, .seq = e->seq, .rule = e->rule };
}

typedef struct OutboxOps {
        /* Start delivering entries[0..n) (the oldest of one queue, in order;
         * they stay valid until the answer); 0 when started, then the
         * transport calls outbox_delivered() exactly once. */
        int (*send)(void *userdata, const OutEntry *const *entries, size_t n);
        /* e was taken by its target (called before e is freed). */
        void (*acked)(void *userdata, const OutEntry *e);
} OutboxOps;

int outbox_new(Outbox **ret, sd_event *event, const OutboxOps *ops, void *userdata);
Outbox *outbox_free(Outbox *o);

/* Deliveries start only once enabled (a daemon on a bus; never on a
 * peer-to-peer test connection). */
void outbox_set_enabled(Outbox *o, bool enabled);

/* A routed event of a committed step. durable: its record is durable already. */
int outbox_add(Outbox *o, const char *target, const RouteId *id, const char *json, bool durable);
/* The records of every entry added so far are durable: they may go. */
void outbox_durable(Outbox *o);
/* Start what may start (after start-up, after outbox_durable()). */
void outbox_kick(Outbox *o);
/* The transport's answer for the delivery in flight to target: r >= 0 and
 * the first taken entries were taken (the rest not, for now), or r < 0 and
 * none was (message says why). What was not taken goes again: at once when
 * some were taken, after a back-off when none was. */
void outbox_delivered(Outbox *o, const char *target, size_t taken, int r, const char *message);

/* Entries waiting for target (NULL: for every target). */
size_t outbox_pending(const Outbox *o, const char *target);
/* The oldest entry waiting for target, or NULL. */
const OutEntry *outbox_head(const Outbox *o, const char *target);
/* Is a delivery to target in flight? */
bool outbox_inflight(const Outbox *o, const char *target);

/* Record forms. An entry as a member of a record's "outbox" list, an
 * acknowledgement as a member of its "acked" list; all entries of source
 * for a snapshot's "outbox" list (a JSON array). */
void outbox_write_entry(FILE *f, const char *target, const RouteId *id, const char *json);
void outbox_write_ack(FILE *f, const OutEntry *e);
void outbox_write_all(const Outbox *o, const char *source, FILE *f);
/* Recovery: an "outbox" list (entries come back, durable, once each) or an
 * "acked" list (those entries go). */
int outbox_read_entries(Outbox *o, json_object *list);
int outbox_read_acks(Outbox *o, json_object *list);
