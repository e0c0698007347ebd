/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* How a routed event reaches the worker of its target component: the
 * transport under the outbox (outbox.h). A target installed as a worker has
 * a socket, RUNDIR/STEM.sock (xfsm@.socket; it activates the worker when it
 * is not running): events go there directly, D-Bus peer to peer, without a
 * round through the bus broker; the connection is kept while events flow and
 * closed after a short linger, so that the receiver may still idle out.
 * Without a socket (no such worker, tests on a private bus) they go over the
 * bus to org.xfsm1.<Target>, which bus activation may start. A target that
 * no process of this host serves (the bus knows no such name) may be homed
 * on another node: then the event goes to the Redis bridge, at
 * /org/xfsm1/Bridge/<Target> on org.xfsm1.Bridge (xfsm-redis-bridge(8)),
 * and keeps going there until the bridge says it does not know the target.
 * One connection and one call in flight per target, so targets never wait
 * for each other. */

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "outbox.h"

typedef struct Delivery Delivery;

/* The end of a delivery: r >= 0 and the target took the first taken
 * entries (all, or a prefix), or r < 0 and none (message says why). */
typedef void (*delivery_done_fn)(void *userdata, const char *target, size_t taken, int r, const char *message);

int delivery_new(Delivery **ret, sd_event *event, delivery_done_fn done, void *userdata);
Delivery *delivery_free(Delivery *d);

/* The bus for targets without a socket (NULL: none). */
void delivery_set_bus(Delivery *d, sd_bus *bus);
/* Whether targets not served on this host may go to the Redis bridge (yes
 * by default; the bridge itself delivers only to this host's workers). */
void delivery_set_bridge(Delivery *d, bool allowed);

/* One event of a DeliverBatch call, as read from it (strings point into the
 * message: valid while the handler runs). */
typedef struct DeliverEvent {
        const char *source, *json;
        uint64_t seq;
        uint32_t rule;
} DeliverEvent;

/* Read DeliverBatch's argument a(stus) (written by delivery_send()) into
 * *ret (freed by the caller), *ret_n events. */
int delivery_read_batch(sd_bus_message *msg, DeliverEvent **ret, size_t *ret_n);

/* Call DeliverBatch on the target of entries[0..n) (one target, in order, at
 * most OUTBOX_BATCH; the entries must stay valid until done is called):
 * the target takes them in order and answers how many it took. done is
 * called once, later (not from inside this call). */
int delivery_send(Delivery *d, const OutEntry *const *entries, size_t n);
