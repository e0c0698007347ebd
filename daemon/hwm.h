/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* High-water marks: for each component hosted here and each (source,
 * incarnation) that sent it routed events, the highest id applied, so that a
 * redelivery has no second effect. Persisted with the receiver's records
 * (the mark a Deliver moves is in that Deliver's record) and its snapshots;
 * this module writes and reads both forms. A source that changes
 * incarnation (it lost its state, or runs without a journal and restarted)
 * starts a new mark; the oldest of a source's marks are forgotten past
 * HWM_INCARNATIONS_MAX, when its older incarnations have long stopped
 * sending. */

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "route-id.h"

#define HWM_INCARNATIONS_MAX 16

typedef struct HwmTable HwmTable;

int hwm_new(HwmTable **ret);
HwmTable *hwm_free(HwmTable *t);

/* Has id taken effect in component already? */
bool hwm_seen(const HwmTable *t, const char *component, const RouteId *id);
/* Raise the mark of id's (source, incarnation) in component to id (never lowers it). */
int hwm_set(HwmTable *t, const char *component, const RouteId *id);
size_t hwm_count(const HwmTable *t, const char *component);

/* The record forms: one mark as a JSON object (a Deliver's record: its
 * component is the record's), and all marks of component as a JSON array
 * (a snapshot). */
void hwm_write_one(FILE *f, const RouteId *id);
void hwm_write_all(const HwmTable *t, const char *component, FILE *f);
/* Read either form back (an object or an array) for component; forms
 * without "incarnation" (older journals) read as incarnation "". */
int hwm_read(HwmTable *t, const char *component, json_object *v);
