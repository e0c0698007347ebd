/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Looking up a host name without blocking the event loop, for the Redis
 * connections of xfsm-redis-bridge(8): hiredis 0.14 would call
 * getaddrinfo(3) inside its connect, and libsystemd does not export its
 * sd-resolve. One lookup is getaddrinfo() in a thread of its own, whose
 * answer comes back over a socket watched by sd-event. */

#include <stddef.h>

#include <systemd/sd-event.h>

#include "macro.h"

#define HOST_LOOKUP_ADDRESSES_MAX 8

typedef struct HostLookup HostLookup;

/* The answer: on success (error 0) the numeric addresses of the host, IPv4
 * and IPv6 as getaddrinfo() orders them, at most HOST_LOOKUP_ADDRESSES_MAX;
 * on failure a negative errno (-ENXIO no such host, -EAGAIN try later,
 * -ENOMEM, -EHOSTUNREACH anything else) and a sentence. Everything is valid
 * during the call only; the callback may free l. */
typedef void (*host_lookup_fn)(HostLookup *l, int error, const char *reason, char *const *addrs, size_t n_addrs,
                               void *userdata);

/* Starts looking up host (TCP, any family) on event; cb is called once,
 * from the loop, unless l is freed first. */
int host_lookup_start(HostLookup **ret, sd_event *event, const char *host, host_lookup_fn cb, void *userdata);

/* Cancels the lookup if it is still going (cb is not called); its thread
 * finishes on its own and drops the answer. Never blocks. Returns NULL. */
HostLookup *host_lookup_free(HostLookup *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(HostLookup *, host_lookup_free);
