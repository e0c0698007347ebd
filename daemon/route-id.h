/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The id of a routed event (docs/xfsmd.8, ROUTED EVENTS): the source
 * component, its incarnation (a random 128-bit id made with the source's
 * state: "" for events of an xfsm older than incarnations), the sequence of
 * the source's journal record that made it, and its index among that
 * record's routed events. Ids of one (source, incarnation) grow: a receiver
 * keeps the highest it has applied (hwm.h) and an id at or below it is a
 * redelivery. */

#include <stdbool.h>
#include <stdint.h>

#define INCARNATION_LEN 32 /* 128 bits as hex */

typedef struct RouteId {
        const char *source;
        const char *incarnation;
        uint64_t seq;
        unsigned rule;
} RouteId;

/* Is (seq, rule) of a at or below (seq, rule) of b? (Same source and incarnation.) */
static inline bool route_id_at_or_below(const RouteId *a, uint64_t seq, unsigned rule) {
        return a->seq < seq || (a->seq == seq && a->rule <= rule);
}
