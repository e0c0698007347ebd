/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* hiredis's asynchronous API on sd-event: the five hooks hiredis calls to
 * start and stop reading and writing, and to clean up, kept on one sd-event
 * I/O source for the context's socket. Only this file knows those hooks;
 * redis.c builds the managed connection on it (xfsm-redis-bridge(8)). */

#include <hiredis/async.h>
#include <systemd/sd-event.h>

/* Watches ac's socket on event from now until hiredis frees ac (the
 * cleanup hook removes the source). Call it right after the connect, before
 * any command. -EBUSY when ac already has an event loop. */
int redis_event_attach(redisAsyncContext *ac, sd_event *event);
