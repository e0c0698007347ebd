/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The outbox and the high-water marks (see outbox.h). One delivery is in
 * flight at a time, the oldest waiting entry first, so events reach each
 * target in the order they were made. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "durable.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "outbox.h"

static OutEntry *out_of(Manager *m) {
        return m->out;
}

static int push(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule, const char *json,
                bool durable) {
        OutEntry *e;

        for (size_t k = 0; k < m->out_n; k++) /* replayed twice (snapshot + record): once is enough */
                if (m->out[k].seq == seq && m->out[k].rule == rule && streq(m->out[k].source, source) &&
                    streq(m->out[k].target, target))
                        return 0;
        if (m->out_n == m->out_cap) {
                size_t cap = m->out_cap ? m->out_cap * 2 : 64;
                OutEntry *v = realloc(m->out, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                m->out = v;
                m->out_cap = cap;
        }
        e = &m->out[m->out_n];
        *e = (OutEntry) { .target = strdup(target), .source = strdup(source), .seq = seq, .rule = rule,
                          .json = strdup(json), .durable = durable };
        if (!e->target || !e->source || !e->json) {
                free(e->target);
                free(e->source);
                free(e->json);
                return -ENOMEM;
        }
        m->out_n++;
        return 0;
}

static void pop(Manager *m, size_t k) {
        free(m->out[k].target);
        free(m->out[k].source);
        free(m->out[k].json);
        memmove(m->out + k, m->out + k + 1, (m->out_n - k - 1) * sizeof *m->out);
        m->out_n--;
}

int outbox_add(Manager *m, const char *source, uint64_t seq, unsigned rule, const xfsm_routed *r) {
        char *json = xfsm_routed_to_json(r);
        int k;

        if (!json)
                return -ENOMEM;
        /* durable now unless a group commit is pending */
        k = push(m, xfsm_routed_target_component(r), source, seq, rule, json, !m->unsynced);
        free(json);
        return k;
}

int outbox_restore(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule, const char *json) {
        return push(m, target, source, seq, rule, json, true);
}

void outbox_acked(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule) {
        for (size_t k = 0; k < m->out_n; k++)
                if (m->out[k].seq == seq && m->out[k].rule == rule && streq(m->out[k].source, source) &&
                    streq(m->out[k].target, target)) {
                        pop(m, k);
                        return;
                }
}

size_t outbox_pending(Manager *m, const char *target) {
        size_t n = 0;
        for (size_t k = 0; k < m->out_n; k++)
                n += !target || streq(m->out[k].target, target);
        return n;
}

void outbox_durable(Manager *m) {
        for (size_t k = 0; k < m->out_n; k++)
                m->out[k].durable = true;
        outbox_kick(m);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        outbox_kick(userdata);
        return 0;
}

static void retry_later(Manager *m) {
        uint64_t now;
        m->out_backoff = m->out_backoff ? m->out_backoff * 2 : 200000;
        if (m->out_backoff > 30000000)
                m->out_backoff = 30000000;
        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!m->out_retry)
                (void) sd_event_add_time(m->event, &m->out_retry, CLOCK_MONOTONIC, now + m->out_backoff, 1000, on_retry,
                                         m);
        else {
                (void) sd_event_source_set_time(m->out_retry, now + m->out_backoff);
                (void) sd_event_source_set_enabled(m->out_retry, SD_EVENT_ONESHOT);
        }
}

static void peer_close_soon(Manager *m);

static int on_delivered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Manager *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        (void) ret_error;

        m->out_inflight = false;
        if (e) {
                if (m->out_peer && sd_bus_message_get_bus(reply) == m->out_peer)
                        peer_close_soon(m); /* not from inside its own dispatch */
                if (!m->out_warned) {
                        log_warning("Routed events for %s wait: %s (%s); retrying", m->out_n ? m->out[0].target : "?",
                                    e->message ?: "", e->name);
                        m->out_warned = true;
                }
                retry_later(m);
                return 0;
        }
        m->out_backoff = 0;
        m->out_warned = false;
        if (m->out_n > 0) {
                OutEntry *o = &out_of(m)[0];
                durable_acked(m, o->target, o->source, o->seq, o->rule);
                pop(m, 0);
        }
        outbox_kick(m);
        return 0;
}

/* ---- peer to peer: the target worker's own socket --------------------------------
 *
 * A target installed as a worker has a socket, RUNDIR/STEM.sock (xfsm@.socket;
 * it activates the worker when it is not running). Routed events go there
 * directly, D-Bus peer to peer, without a round through the bus broker; the
 * connection is kept while events flow and closed after a short linger, so
 * the receiver may still idle out. Without a socket (no such worker, tests on
 * a private bus) they go over the bus to org.xfsm1.<Target>. */

#define PEER_LINGER_USEC (2ULL * 1000000ULL)

static const char *run_dir(void) {
        const char *d = getenv("XFSM_RUNTIME_DIR");
        return d && *d ? d : "/run/xfsm";
}

static void peer_close(Manager *m) {
        if (m->out_peer) {
                (void) sd_bus_detach_event(m->out_peer);
                sd_bus_close(m->out_peer);
                m->out_peer = sd_bus_unref(m->out_peer);
        }
        free(m->out_peer_target);
        m->out_peer_target = NULL;
        m->out_linger = sd_event_source_disable_unref(m->out_linger);
}

static int on_linger(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) s, (void) usec;
        if (!m->out_inflight)
                peer_close(m);
        return 0;
}

static void peer_close_soon(Manager *m) {
        if (!m->out_linger) {
                if (sd_event_add_time(m->event, &m->out_linger, CLOCK_MONOTONIC, 0, 0, on_linger, m) < 0)
                        return;
        } else {
                (void) sd_event_source_set_time(m->out_linger, 0);
                (void) sd_event_source_set_enabled(m->out_linger, SD_EVENT_ONESHOT);
        }
}

/* The socket of target's worker: "" when there is none (remembered: the lookup reads the component files). */
static const char *peer_socket(Manager *m, const char *target) {
        for (size_t k = 0; k < m->n_peer_sockets; k++)
                if (streq(m->peer_sockets[k].target, target))
                        return m->peer_sockets[k].socket;
        char *file = NULL, *sock = NULL;
        if (manager_find_component_file(target, NULL, &file) > 0) {
                const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
                struct stat st;
                if (asprintf(&sock, "%s/%.*s.sock", run_dir(), (int) (strlen(base) - 5), base) < 0)
                        sock = NULL;
                else if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                        free(sock);
                        sock = NULL;
                }
        }
        free(file);
        struct PeerSocket *v = realloc(m->peer_sockets, (m->n_peer_sockets + 1) * sizeof *v);
        if (!v) {
                free(sock);
                return "";
        }
        m->peer_sockets = v;
        v[m->n_peer_sockets] = (struct PeerSocket) { .target = strdup(target), .socket = sock ? sock : strdup("") };
        if (!v[m->n_peer_sockets].target || !v[m->n_peer_sockets].socket) {
                free(v[m->n_peer_sockets].target);
                free(v[m->n_peer_sockets].socket);
                return "";
        }
        return v[m->n_peer_sockets++].socket;
}

/* A connection to target's worker socket, or NULL (then the bus). */
static sd_bus *peer_for(Manager *m, const char *target) {
        const char *sock;
        char *address = NULL;
        sd_bus *b = NULL;
        int r;

        if (m->out_peer && streq(m->out_peer_target, target)) {
                if (sd_bus_is_open(m->out_peer) > 0)
                        return m->out_peer;
                peer_close(m); /* the worker left (idled out, restarted): connect again */
        } else if (m->out_peer)
                peer_close(m);
        sock = peer_socket(m, target);
        if (!*sock)
                return NULL;
        if (asprintf(&address, "unix:path=%s", sock) < 0)
                return NULL;
        r = sd_bus_new(&b);
        if (r >= 0)
                r = sd_bus_set_address(b, address);
        if (r >= 0)
                r = sd_bus_attach_event(b, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_start(b);
        free(address);
        if (r < 0) {
                log_debug("Cannot connect to %s for %s (%s): over the bus", sock, target, strerror(-r));
                sd_bus_unref(b);
                return NULL;
        }
        m->out_peer = b;
        m->out_peer_target = strdup(target);
        if (!m->out_peer_target) {
                peer_close(m);
                return NULL;
        }
        log_debug("Routed events for %s go to %s", target, sock);
        return b;
}

static void linger(Manager *m) {
        uint64_t now;
        if (!m->out_peer || sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!m->out_linger)
                (void) sd_event_add_time(m->event, &m->out_linger, CLOCK_MONOTONIC, now + PEER_LINGER_USEC, 100000,
                                         on_linger, m);
        else {
                (void) sd_event_source_set_time(m->out_linger, now + PEER_LINGER_USEC);
                (void) sd_event_source_set_enabled(m->out_linger, SD_EVENT_ONESHOT);
        }
}

void outbox_kick(Manager *m) {
        char bus_name[128], path[128];
        sd_bus *b;
        OutEntry *o;

        if (m->out_inflight || m->out_n == 0 || !m->bus || m->peer) {
                if (m->out_n == 0)
                        linger(m);
                return;
        }
        o = &m->out[0];
        if (!o->durable)
                return; /* its record is not synced yet */
        snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", o->target);
        snprintf(path, sizeof path, "/org/xfsm1/%s", o->target);
        b = peer_for(m, o->target);
        if (sd_bus_call_method_async(b ?: m->bus, NULL, b ? NULL : bus_name, path, "org.xfsm1.Component", "Deliver",
                                     on_delivered, m, "stus", o->source, o->seq, o->rule, o->json) >= 0)
                m->out_inflight = true;
        else
                retry_later(m);
}

void outbox_free(Manager *m) {
        while (m->out_n > 0)
                pop(m, m->out_n - 1);
        free(m->out);
        m->out = NULL;
        m->out_cap = 0;
        m->out_retry = sd_event_source_disable_unref(m->out_retry);
        peer_close(m);
        for (size_t k = 0; k < m->n_peer_sockets; k++) {
                free(m->peer_sockets[k].target);
                free(m->peer_sockets[k].socket);
        }
        free(m->peer_sockets);
        m->peer_sockets = NULL;
        m->n_peer_sockets = 0;
        for (size_t k = 0; k < m->n_hwm; k++) {
                free(m->hwm[k].component);
                free(m->hwm[k].source);
        }
        free(m->hwm);
        m->hwm = NULL;
        m->n_hwm = 0;
}

/* ---- high-water marks ------------------------------------------------------- */

static Hwm *hwm_find(Manager *m, const char *component, const char *source) {
        for (size_t k = 0; k < m->n_hwm; k++)
                if (streq(m->hwm[k].component, component) && streq(m->hwm[k].source, source))
                        return &m->hwm[k];
        return NULL;
}

bool hwm_seen(Manager *m, const char *component, const char *source, uint64_t seq, unsigned rule) {
        Hwm *h = hwm_find(m, component, source);
        return h && (seq < h->seq || (seq == h->seq && rule <= h->rule));
}

void hwm_set(Manager *m, const char *component, const char *source, uint64_t seq, unsigned rule) {
        Hwm *h = hwm_find(m, component, source);
        if (!h) {
                Hwm *v = realloc(m->hwm, (m->n_hwm + 1) * sizeof *v);
                if (!v)
                        return;
                m->hwm = v;
                h = &m->hwm[m->n_hwm];
                *h = (Hwm) { .component = strdup(component), .source = strdup(source) };
                if (!h->component || !h->source) {
                        free(h->component);
                        free(h->source);
                        return;
                }
                m->n_hwm++;
        }
        if (seq > h->seq || (seq == h->seq && rule > h->rule)) {
                h->seq = seq;
                h->rule = rule;
        }
}
