/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Idling out (docs/xfsmd.8, --idle-timeout): a worker leaves after a while
 * without activity, and only when nothing is in flight (its owner's busy()
 * says so: no parked call, no peer connection, nothing waiting for a sync,
 * an empty outbox, no work running, no transition timer armed; retention
 * expiry does not count, it is applied at start). It releases its bus
 * names first, so that new calls queue for the next activation, handles
 * what had already arrived, then exits the event loop. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct Idle Idle;

typedef bool (*idle_busy_fn)(void *userdata);

int idle_new(Idle **ret, sd_event *event, idle_busy_fn busy, void *userdata);
Idle *idle_free(Idle *i);

/* Something happened: the idle time starts again. */
void idle_touch(Idle *i);

/* Leave after usec (0: never) without activity. names (NULL-terminated,
 * copied) are released on bus first; on a peer connection, or without a
 * bus, the loop exits at once. Every message on bus counts as activity. */
int idle_start(Idle *i, sd_bus *bus, bool peer, char *const *names, uint64_t usec);
