/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GET /api/events: server-sent events. The node's transitions (the
 * Transition signals of org.xfsm1.Instance), instances created
 * (InstanceCreated) and removed (InterfacesRemoved), of local components
 * and of those the bridge serves, each as one "data:" line of JSON to
 * every subscriber whose filter (?component=C) takes it. A subscriber's
 * connection is suspended while it has nothing to read; one that falls 1
 * MiB behind is ended. */

#include "http.h"

#define EVENTS_BACKLOG_MAX (1024 * 1024)
#define EVENTS_KEEPALIVE_USEC (15ULL * 1000000)

Events *events_new(Http *http);
Events *events_free(Events *e);

/* Answer x with the stream (-EBUSY: the client has its limit of streams). */
int events_subscribe(Events *e, Exchange *x, const char *component);
void events_unsubscribe(Events *e, Subscriber *s);
size_t events_subscribers(Events *e);
