/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's side of durability (docs/xfsmd.8, DURABILITY): recovery at
 * start, one journal record per committed step, snapshots, the queue that
 * holds replies and signals until their record is durable (group commit
 * under the batch policy), the SendEx event-id window, and each hosted
 * component's incarnation (the random id of its state, part of the id of
 * every routed event it sends). The records are put together from what the
 * other modules write (record.h); this module decides when they are written
 * and synced. */

#include <stdbool.h>

#include <systemd/sd-bus.h>

#include "journal.h"
#include "outbox.h"
#include "route-id.h"
#include "xfsm.h"

typedef struct Manager Manager;
typedef struct Host Host;
typedef struct StepOrigin StepOrigin;
typedef struct Durable Durable;

#define EVENT_ID_WINDOW 4096 /* per component: SendEx event ids remembered, across restarts */
/* A snapshot is taken once the records after the last one take as much room
 * as it did, and at least SNAPSHOT_MIN_BYTES (compaction then costs a bounded
 * share of what is written, however many instances there are), or once
 * SNAPSHOT_MAX_AGE_USEC has passed with records waiting. */
#define SNAPSHOT_MIN_BYTES (8ULL * 1024 * 1024)
#define SNAPSHOT_MAX_AGE_USEC (15ULL * 60 * 1000000)

int durable_new(Durable **ret, Manager *m);
Durable *durable_free(Durable *d);

/* Open and recover the state directory of every hosted component,
 * <state_dir>/<stem>/. Without it nothing is written (durability none,
 * no journal). */
int durable_open(Durable *d, const char *state_dir, JournalPolicy policy);
bool durable_enabled(const Durable *d);
const char *durable_state_dir(const Durable *d);

/* The incarnation of h (32 hex digits): kept in its state directory
 * (created with it), or new at every start without a journal or under
 * durability none. */
const char *durable_incarnation(Durable *d, Host *h);

/* The step's record (called from the step handler, before anything of the
 * step leaves): images, drops, the routed events for other processes (into
 * the outbox), work to run, and what origin says (event id, high-water
 * mark, work done; origin->recorded is set). */
int durable_record(Durable *d, Host *h, const xfsm_step *s, StepOrigin *origin);

/* True while messages wait for a sync: queue rather than send. */
bool durable_deferring(const Durable *d);
/* Anything unsynced or queued (the idle exit waits for it). */
bool durable_busy(const Durable *d);
#define QUEUE_LIMIT 10000 /* calls whose answers wait for the sync: past it, Send and CreateInstance answer Busy */
/* Calls answered whose answers wait for their records to be durable (batch). */
size_t durable_waiting(const Durable *d);
/* Queue a message (reply or signal) to be sent once durable (takes a ref). */
int durable_queue(Durable *d, sd_bus_message *msg);
/* Queue an emission made at flush time (its contents are read then):
 * 'A' InterfacesAdded. */
int durable_queue_emit(Durable *d, char kind, const char *path);

/* Event ids (SendEx): the remembered result, or NULL. */
const char *durable_event_result(Durable *d, Host *h, const char *event_id);
void durable_event_remember(Durable *d, Host *h, const char *event_id, const char *state);

/* Sync and send what waits (on a clean stop). */
int durable_flush(Durable *d);
/* Small records of their own: the target took a routed event of h (no sync
 * needed: a lost acknowledgement means a redelivery, which the target's
 * high-water mark makes harmless); work id of h has its outcome (when the
 * outcome event made no record); a high-water mark (a routed event that
 * could not apply). */
void durable_acked(Durable *d, const OutEntry *e);
void durable_work_done(Durable *d, Host *h, const char *id);
void durable_hwm(Durable *d, Host *h, const RouteId *id);
/* On a clean stop: a snapshot of each component. */
void durable_snapshot_all(Durable *d);
