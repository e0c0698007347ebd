/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Delivery of routed events to their targets' workers (see deliver.h): one
 * Link per target, holding its peer connection (if it has a socket) and its
 * call in flight. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "component-files.h"
#include "deliver.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

#define LINGER_USEC (2ULL * 1000000ULL)

typedef struct Link {
        Delivery *delivery;
        char *target;
        char *socket;      /* RUNDIR/STEM.sock, or NULL: over the bus */
        bool socket_known; /* looked up (the lookup reads the component files) */
        bool via_bridge;   /* the target is homed on another node: through the bridge */
        sd_bus *peer;
        sd_bus_slot *call; /* the DeliverBatch in flight */
        const OutEntry *inflight[OUTBOX_BATCH]; /* its entries (the caller keeps them until the answer) */
        size_t n_inflight;
        bool switched;     /* the call in flight is the second way tried for this entry */
        sd_event_source *linger;
} Link;

struct Delivery {
        sd_event *event;
        sd_bus *bus;
        bool no_bridge;
        delivery_done_fn done;
        void *userdata;
        Link **links;
        size_t n_links;
};

int delivery_new(Delivery **ret, sd_event *event, delivery_done_fn done, void *userdata) {
        Delivery *d;

        assert(ret);
        assert(done);
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->event = sd_event_ref(event);
        d->done = done;
        d->userdata = userdata;
        *ret = d;
        return 0;
}

static void link_close_peer(Link *l) {
        if (l->peer) {
                (void) sd_bus_detach_event(l->peer);
                sd_bus_close(l->peer);
                l->peer = sd_bus_unref(l->peer);
        }
}

static Link *link_free(Link *l) {
        if (!l)
                return NULL;
        l->call = sd_bus_slot_unref(l->call);
        link_close_peer(l);
        sd_event_source_disable_unref(l->linger);
        free(l->target);
        free(l->socket);
        free(l);
        return NULL;
}

Delivery *delivery_free(Delivery *d) {
        if (!d)
                return NULL;
        for (size_t k = 0; k < d->n_links; k++)
                link_free(d->links[k]);
        free(d->links);
        sd_bus_unref(d->bus);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

void delivery_set_bus(Delivery *d, sd_bus *bus) {
        assert(d);
        sd_bus_unref(d->bus);
        d->bus = sd_bus_ref(bus);
}

void delivery_set_bridge(Delivery *d, bool allowed) {
        assert(d);
        d->no_bridge = !allowed;
}

static Link *link_get(Delivery *d, const char *target) {
        Link *l, **v;

        for (size_t k = 0; k < d->n_links; k++)
                if (streq(d->links[k]->target, target))
                        return d->links[k];
        v = reallocarray(d->links, d->n_links + 1, sizeof *v);
        if (!v)
                return NULL;
        d->links = v;
        l = calloc(1, sizeof *l);
        if (!l)
                return NULL;
        l->delivery = d;
        l->target = strdup(target);
        if (!l->target)
                return link_free(l);
        d->links[d->n_links++] = l;
        return l;
}

static const char *run_dir(void) {
        const char *dir = getenv("XFSM_RUNTIME_DIR");

        return !isempty(dir) ? dir : "/run/xfsm";
}

/* The socket of the target's worker, or NULL (remembered). */
static const char *link_socket(Link *l) {
        _cleanup_(freep) char *file = NULL;
        struct stat st;
        const char *base;

        if (l->socket_known)
                return l->socket;
        l->socket_known = true;
        if (component_file_find(l->target, NULL, &file) <= 0)
                return NULL;
        base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        if (asprintf(&l->socket, "%s/%.*s.sock", run_dir(), (int) (strlen(base) - 5), base) < 0) {
                l->socket = NULL;
                return NULL;
        }
        if (stat(l->socket, &st) < 0 || !S_ISSOCK(st.st_mode))
                l->socket = mfree(l->socket);
        return l->socket;
}

static int on_linger(sd_event_source *s, uint64_t usec, void *userdata) {
        Link *l = userdata;

        if (!l->call)
                link_close_peer(l);
        return 0;
}

/* Close the peer connection after delay (0: soon, but not from inside its own dispatch). */
static void link_linger(Link *l, uint64_t delay) {
        uint64_t now;
        int r;

        if (!l->peer)
                return;
        r = sd_event_now(l->delivery->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return;
        if (!l->linger) {
                r = sd_event_add_time(l->delivery->event, &l->linger, CLOCK_MONOTONIC, now + delay, 100000, on_linger,
                                      l);
                if (r >= 0)
                        (void) sd_event_source_set_description(l->linger, "deliver-linger");
        } else {
                (void) sd_event_source_set_time(l->linger, now + delay);
                (void) sd_event_source_set_enabled(l->linger, SD_EVENT_ONESHOT);
        }
}

/* A connection to the target's worker socket, or NULL (then the bus). */
static sd_bus *link_peer(Link *l) {
        _cleanup_(sd_bus_unrefp) sd_bus *b = NULL;
        _cleanup_(freep) char *address = NULL;
        const char *sock;
        int r;

        if (l->peer) {
                if (sd_bus_is_open(l->peer) > 0)
                        return l->peer;
                link_close_peer(l); /* the worker left (idled out, restarted): connect again */
        }
        sock = link_socket(l);
        if (!sock || asprintf(&address, "unix:path=%s", sock) < 0)
                return NULL;
        r = sd_bus_new(&b);
        if (r >= 0)
                r = sd_bus_set_address(b, address);
        if (r >= 0)
                r = sd_bus_attach_event(b, l->delivery->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_start(b);
        if (r < 0) {
                log_debug("Cannot connect to %s for %s (%s): over the bus", sock, l->target, strerror(-r));
                if (b)
                        (void) sd_bus_detach_event(b);
                return NULL;
        }
        log_debug("Routed events for %s go to %s", l->target, sock);
        l->peer = TAKE_PTR(b);
        return l->peer;
}

static int link_call(Link *l);

/* Errors that say "not here", not "failed": the bus knows no such name (no
 * process of this host serves the target), or the bridge does not know it
 * as homed elsewhere. */
static bool error_means_elsewhere(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                      SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD,
                                      "org.xfsm1.Error.NoSuchComponent");
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Link *l = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        bool on_peer = l->peer && sd_bus_message_get_bus(reply) == l->peer;

        l->call = sd_bus_slot_unref(l->call);
        if (on_peer)
                link_linger(l, e ? 0 : LINGER_USEC); /* a failing peer is dropped: the next try connects anew */
        if (e && !on_peer && !l->switched && !l->delivery->no_bridge && error_means_elsewhere(e)) {
                /* not served on this host: the bridge; or the bridge does not know it: this host again */
                l->via_bridge = !l->via_bridge;
                l->switched = true;
                log_debug("Routed events for %s: %s, trying %s", l->target, e->name,
                          l->via_bridge ? "the Redis bridge" : "this host's bus");
                if (link_call(l) >= 0)
                        return 0;
        }
        l->n_inflight = 0;
        if (e)
                l->delivery->done(l->delivery->userdata, l->target, 0, -sd_bus_message_get_errno(reply) ?: -EIO,
                                  e->message ?: e->name);
        else {
                uint32_t taken = 0;
                int r = sd_bus_message_read(reply, "u", &taken);
                l->delivery->done(l->delivery->userdata, l->target, r < 0 ? 0 : taken, r < 0 ? r : 0,
                                  r < 0 ? "the answer could not be read" : "the target took none now");
        }
        return 0;
}

static int link_call(Link *l) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Delivery *d = l->delivery;
        char bus_name[300], path[300];
        const char *target = l->inflight[0]->target;
        sd_bus *peer = NULL, *bus;
        int r;

        if (!l->via_bridge)
                peer = link_peer(l);
        bus = peer ?: d->bus;
        if (!bus)
                return -ENOTCONN;
        if (l->via_bridge) {
                snprintf(bus_name, sizeof bus_name, "org.xfsm1.Bridge");
                snprintf(path, sizeof path, "/org/xfsm1/Bridge/%s", target);
        } else {
                snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", target);
                snprintf(path, sizeof path, "/org/xfsm1/%s", target);
        }
        r = sd_bus_message_new_method_call(bus, &m, peer ? NULL : bus_name, path, "org.xfsm1.Component",
                                           "DeliverBatch");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(stus)");
        for (size_t k = 0; r >= 0 && k < l->n_inflight; k++) {
                const OutEntry *e = l->inflight[k];
                r = sd_bus_message_append(m, "(stus)", e->source, e->seq, e->rule, e->json);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_call_async(bus, &l->call, m, on_reply, l, 0);
}

int delivery_send(Delivery *d, const OutEntry *const *entries, size_t n) {
        Link *l;
        int r;

        assert(d);
        assert(entries && n > 0 && n <= OUTBOX_BATCH);
        l = link_get(d, entries[0]->target);
        if (!l)
                return -ENOMEM;
        if (l->call)
                return -EBUSY;
        memcpy(l->inflight, entries, n * sizeof *entries);
        l->n_inflight = n;
        l->switched = false;
        r = link_call(l);
        if (r < 0)
                l->n_inflight = 0;
        return r;
}

int delivery_read_batch(sd_bus_message *msg, DeliverEvent **ret, size_t *ret_n) {
        _cleanup_(freep) DeliverEvent *v = NULL;
        size_t n = 0, cap = 0;
        int r;

        assert(msg && ret && ret_n);
        r = sd_bus_message_enter_container(msg, 'a', "(stus)");
        if (r < 0)
                return r;
        for (;;) {
                DeliverEvent e;

                r = sd_bus_message_read(msg, "(stus)", &e.source, &e.seq, &e.rule, &e.json);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n == cap) {
                        DeliverEvent *nv = reallocarray(v, cap = cap ? cap * 2 : 16, sizeof *nv);
                        if (!nv)
                                return -ENOMEM;
                        v = nv;
                }
                v[n++] = e;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}
