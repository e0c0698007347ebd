/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Actions that run work (xfsm.component(5), xfsmd(8) ACTIONS THAT RUN WORK): `exec` runs a command,
 * `unit` starts, stops or restarts a systemd unit the configuration allows.
 * Each becomes a Work, is part of its event's record, starts only once that
 * record is durable, and ends in one outcome event to its instance:
 * EXEC_DONE / EXEC_FAILED, UNIT_DONE / UNIT_FAILED. One whose outcome was
 * lost with a crash or restart is reported as *_FAILED with reason
 * "interrupted", never run again silently. */

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "xfsm.h"

typedef struct Manager Manager;
typedef struct Host Host;
typedef struct Work Work;
typedef struct WorkSet WorkSet;

/* Stdout of a command beyond this is a failure (the payload limit of the D-Bus API
 * section 4); the tail of stderr kept for EXEC_FAILED. */
#define WORK_STDOUT_MAX (1024 * 1024)
#define WORK_STDERR_TAIL 2048
/* Where the worker leaves an exec unit's input and systemd its output
 * (StateDirectory=xfsm-exec of xfsm@.service; read by xfsm-exec@.service). */
#define WORK_EXEC_DIR "/var/lib/xfsm-exec"

/* Set the unit allow list (globs, NULL-terminated; taken over) before loading. */
void work_set_allowed_units(Manager *m, char **globs);
bool work_unit_allowed(Manager *m, const char *unit);

/* A unit or exec effect of a step, under the id its record gives it. */
int work_add(Manager *m, Host *h, const char *id, const xfsm_effect *f);
/* The records of what was added are durable: start it. */
void work_durable(Manager *m);

/* Recovery: the "work" list of a record or snapshot of h (work started),
 * and a record's "workDone" (the work with that id has its outcome). */
int work_read(Manager *m, Host *h, json_object *list);
int work_read_done(Manager *m, json_object *v);
/* After recovery: what is still there has no outcome; report it. */
void work_recovered(Manager *m);

/* The work of h in flight, as the JSON members of a snapshot's "work" list. */
void work_write(Manager *m, Host *h, FILE *f);
/* A record describing f (for the "work" list of its step's record). */
void work_write_effect(FILE *f, const char *id, const xfsm_effect *f_effect);

bool work_busy(Manager *m);
/* The module (m->work): created with the manager, set up once on the bus. */
int work_new(WorkSet **ret, Manager *m);
WorkSet *work_free(WorkSet *ws);
int work_setup(Manager *m);
