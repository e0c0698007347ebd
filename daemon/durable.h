/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's side of durability (SPEC section 2): recovery at start, one
 * journal record per committed step, and the outbound queue that holds
 * replies and signals until their record is durable (group commit under
 * the batch policy). */

#include <systemd/sd-bus.h>

#include "journal.h"
#include "xfsm.h"

typedef struct Manager Manager;
typedef struct Host Host;

#define EVENT_ID_WINDOW 4096 /* per component: SendEx event ids remembered, across restarts */
#define SNAPSHOT_EVERY 10000 /* records between snapshots */

/* Open and recover the state directory of every hosted component:
 * <state_dir>/<stem>/. */
int durable_open(Manager *m, const char *state_dir, JournalPolicy policy);
void durable_close(Manager *m);

/* From the step handler: the step's record. */
int durable_record(Manager *m, Host *h, const xfsm_step *s);

/* True while messages wait for a sync: queue rather than send. */
bool durable_deferring(Manager *m);
/* Queue a message (reply or signal) to be sent once durable (takes a ref). */
int durable_queue(Manager *m, sd_bus_message *msg);
/* Queue an action run at flush time: InterfacesAdded and PropertiesChanged
 * (their contents are read then). kind: 'A' added, 'P' state properties,
 * 'S' status property. */
int durable_queue_emit(Manager *m, char kind, const char *path);

/* Event ids (SendEx): the remembered result, or NULL. */
const char *durable_event_result(Manager *m, Host *h, const char *event_id);
void durable_event_remember(Manager *m, Host *h, const char *event_id, const char *state);

/* Sync and send what waits (on a clean stop). */
int durable_flush(Manager *m);
/* The target took a routed event: remember it (no sync needed: a lost
 * acknowledgement means a redelivery, which the target's high-water mark
 * makes harmless). */
void durable_acked(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule);
/* A record saying work id of h has its outcome (when the outcome event made no record). */
void durable_work_done(Manager *m, Host *h, const char *id);
/* A high-water mark on its own (a routed event that could not apply). */
void durable_hwm(Manager *m, Host *h, const char *source, uint64_t seq, unsigned rule);
/* On a clean stop: a snapshot of each component. */
void durable_snapshot_all(Manager *m);
