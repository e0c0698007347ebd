/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xcomponent-ai compatibility (see xcompat.h): one subscribing connection
 * for the xcomponent:C channels of the components homed here, one Home per
 * such component (its queue of messages toward the worker, a window of
 * Deliver calls in flight), and one object per component served by
 * xcomponent-ai at /org/xfsm1/Bridge/C that publishes what the workers'
 * outboxes hand it. The message forms are xcompat-wire.c's. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bus-errors.h"
#include "deliver.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "names.h"
#include "xcompat-wire.h"
#include "xcompat.h"
#include "xfsm.h"

#define QUEUE_LIMIT 10000 /* messages waiting for one worker: past it, new ones are dropped (counted) */
#define WINDOW 64         /* Deliver calls in flight per worker */
#define SOURCES_MAX 1024  /* (component, source) numbering counters */
#define RETRY_MIN_USEC (100ULL * 1000ULL)
#define RETRY_MAX_USEC (5000ULL * 1000ULL)
#define PUBLISH_USEC (3000ULL * 1000ULL)
#define PREFIX "/org/xfsm1/Bridge/"
#define SOURCE_UNKNOWN XCOMPAT_SOURCE_PREFIX "unknown"

typedef struct Home Home;

typedef enum MsgState {
        MSG_QUEUED,
        MSG_SENT,
        MSG_DONE,
        MSG_FAILED,
} MsgState;

/* One message for a worker, as a routed event without its number yet. */
typedef struct Msg {
        Home *home;
        MsgState state;
        char *source; /* "xcomponent:S" */
        uint64_t seq;
        json_object *routed;
        sd_bus_slot *slot; /* the Deliver call in flight */
} Msg;

struct Home {
        Xcompat *x;
        char *component, *bus_name, *path;
        Msg **queue; /* queue[head .. n): [head .. next) sent or answered, [next .. n) to send */
        size_t head, next, n, cap;
        size_t n_inflight;
        bool failed; /* a call in the window failed: resend the failed ones once the window is answered */
        uint64_t backoff;
        sd_event_source *retry;
        bool warned;
};

/* Numbers per (component, source), from 1, under this start's incarnation. */
typedef struct Counter {
        char *component, *source;
        uint64_t last;
} Counter;

/* A component served by xcomponent-ai: its object. */
typedef struct Remote {
        Xcompat *x;
        char *component, *channel;
        sd_bus_slot *slot;
} Remote;

struct Xcompat {
        sd_event *event;
        sd_bus *bus;
        RedisConn *writer, *sub;
        Access *access;
        sd_bus_slot *counters_slot;
        char incarnation[33];
        Home **homes;
        size_t n_homes;
        Counter *counters;
        size_t n_counters;
        Remote **remotes;
        size_t n_remotes;
        unsigned bad_logged; /* a bit per kind of malformed message logged once */
        bool create_logged, overflow_logged, dropped_logged, sources_logged;
        XcompatStats stats;
};

/* ---- numbering ---------------------------------------------------------------------- */

static int next_seq(Xcompat *x, const char *component, const char *source, uint64_t *ret) {
        Counter *c;

        for (size_t k = 0; k < x->n_counters; k++)
                if (streq(x->counters[k].component, component) && streq(x->counters[k].source, source)) {
                        *ret = ++x->counters[k].last;
                        return 0;
                }
        if (x->n_counters >= SOURCES_MAX && !streq(source, SOURCE_UNKNOWN))
                return -E2BIG;
        c = reallocarray(x->counters, x->n_counters + 1, sizeof *c);
        if (!c)
                return -ENOMEM;
        x->counters = c;
        c = &x->counters[x->n_counters];
        *c = (Counter) { .component = strdup(component), .source = strdup(source), .last = 1 };
        if (!c->component || !c->source) {
                free(c->component);
                free(c->source);
                return -ENOMEM;
        }
        x->n_counters++;
        *ret = 1;
        return 0;
}

/* ---- toward the worker ------------------------------------------------------------------ */

static Msg *msg_free(Msg *m) {
        if (!m)
                return NULL;
        sd_bus_slot_unref(m->slot);
        json_object_put(m->routed);
        free(m->source);
        free(m);
        return NULL;
}

static void home_send(Home *h);
static Remote *remote_find(Xcompat *x, const char *component);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Home *h = userdata;

        home_send(h);
        return 0;
}

static void home_retry_later(Home *h) {
        uint64_t now;

        h->backoff = h->backoff ? MIN(h->backoff * 2, RETRY_MAX_USEC) : RETRY_MIN_USEC;
        if (sd_event_now(h->x->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!h->retry) {
                if (sd_event_add_time(h->x->event, &h->retry, CLOCK_MONOTONIC, now + h->backoff, 1000, on_retry, h) < 0)
                        return;
                (void) sd_event_source_set_description(h->retry, "xcompat-retry");
        } else {
                (void) sd_event_source_set_time(h->retry, now + h->backoff);
                (void) sd_event_source_set_enabled(h->retry, SD_EVENT_ONESHOT);
        }
}

static bool home_waiting(const Home *h) {
        int enabled = SD_EVENT_OFF;

        return h->retry && sd_event_source_get_enabled(h->retry, &enabled) >= 0 && enabled != SD_EVENT_OFF;
}

/* The answered messages at the head leave; once a window with a failure is
 * answered, the failed messages are sent again, in order, after a back-off,
 * with their numbers: one the worker applied though its answer was lost is
 * recognised by its high-water mark and not applied twice (and one that
 * failed while a later one of its source got through is recognised as
 * older, and not applied: at most once, never twice). */
static void home_advance(Home *h) {
        while (h->head < h->next && h->queue[h->head]->state == MSG_DONE) {
                h->queue[h->head] = msg_free(h->queue[h->head]);
                h->head++;
        }
        if (h->failed && h->n_inflight == 0) {
                size_t w = h->head;

                for (size_t k = h->head; k < h->n; k++) {
                        Msg *m = h->queue[k];
                        if (k < h->next && m->state == MSG_DONE) {
                                msg_free(m);
                                continue;
                        }
                        m->state = MSG_QUEUED;
                        h->queue[w++] = m;
                }
                h->n = w;
                h->next = h->head;
                h->failed = false;
                home_retry_later(h);
        }
        if (h->head == h->n)
                h->head = h->next = h->n = 0;
}

static int on_delivered(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Msg *m = userdata;
        Home *h = m->home;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t delivered = 0;

        m->slot = sd_bus_slot_unref(m->slot);
        h->n_inflight--;
        if (e && !sd_bus_error_has_names(e, "org.xfsm1.Error.InvalidArgument", "org.xfsm1.Error.InvalidPayload")) {
                m->state = MSG_FAILED;
                h->failed = true;
                if (!h->warned)
                        log_warning("%s: messages from xcomponent-ai wait for the worker: %s; retrying", h->component,
                                    e->message ?: e->name);
                h->warned = true;
        } else {
                /* definitive refusals (the worker cannot read it) count as dropped: they never apply */
                if (!e)
                        (void) sd_bus_message_read(reply, "u", &delivered);
                else if (!h->x->dropped_logged) {
                        log_warning("%s: the worker refused a message from xcomponent-ai: %s (logged once)",
                                    h->component, e->message ?: e->name);
                        h->x->dropped_logged = true;
                }
                if (delivered > 0)
                        h->x->stats.delivered++;
                else
                        h->x->stats.dropped++; /* no instance took it: ignored, as xcomponent-ai ignores it */
                m->state = MSG_DONE;
                if (h->warned && !e) {
                        log_info("%s: messages from xcomponent-ai flow to the worker again", h->component);
                        h->warned = false;
                        h->backoff = 0;
                }
        }
        home_advance(h);
        home_send(h);
        return 0;
}

static void home_send(Home *h) {
        Xcompat *x = h->x;

        if (h->failed || home_waiting(h))
                return;
        while (h->n_inflight < WINDOW && h->next < h->n) {
                Msg *m = h->queue[h->next];
                const char *json;
                int r;

                json_object_object_add(m->routed, "sourceSeq", json_object_new_uint64(m->seq));
                json = json_object_to_json_string_ext(m->routed, JSON_C_TO_STRING_PLAIN);
                r = sd_bus_call_method_async(x->bus, &m->slot, h->bus_name, h->path, "org.xfsm1.Component", "Deliver",
                                             on_delivered, m, "stus", m->source, m->seq, (uint32_t) 0, json);
                if (r == -ENOMEM || r == -ENOBUFS || r == -ENOTCONN || r == -ECONNRESET) {
                        log_debug("%s: cannot call Deliver now: %s", h->component, strerror(-r));
                        home_retry_later(h);
                        return;
                }
                if (r < 0) {
                        /* this message cannot be sent at all: it must not hold up the others */
                        log_warning("%s: a message from xcomponent-ai cannot be handed to the worker: %s, dropped",
                                    h->component, strerror(-r));
                        x->stats.dropped++;
                        m->state = MSG_DONE;
                        h->next++;
                        home_advance(h);
                        continue;
                }
                m->state = MSG_SENT;
                h->next++;
                h->n_inflight++;
        }
}

static Home *home_free(Home *h) {
        if (!h)
                return NULL;
        for (size_t k = h->head; k < h->n; k++)
                msg_free(h->queue[k]);
        free(h->queue);
        sd_event_source_disable_unref(h->retry);
        free(h->component);
        free(h->bus_name);
        free(h->path);
        free(h);
        return NULL;
}

static Home *home_find(const Xcompat *x, const char *component) {
        for (size_t k = 0; k < x->n_homes; k++)
                if (streq(x->homes[k]->component, component))
                        return x->homes[k];
        return NULL;
}

static int home_push(Home *h, Msg *m) {
        if (h->n - h->head >= QUEUE_LIMIT)
                return -ENOBUFS;
        if (h->n == h->cap) {
                if (h->head > 0 && h->n_inflight == 0 && h->head == h->next) {
                        memmove(h->queue, h->queue + h->head, (h->n - h->head) * sizeof *h->queue);
                        h->n -= h->head;
                        h->next = h->head = 0;
                } else {
                        size_t cap = h->cap ? h->cap * 2 : 64;
                        Msg **v = reallocarray(h->queue, cap, sizeof *v);
                        if (!v)
                                return -ENOMEM;
                        h->queue = v;
                        h->cap = cap;
                }
        }
        h->queue[h->n++] = m;
        return 0;
}

/* ---- messages in ---------------------------------------------------------------------------- */

static void log_bad(Xcompat *x, const char *channel, XcompatBad why) {
        unsigned bit = 1u << why;

        x->stats.malformed++;
        if (x->bad_logged & bit)
                return;
        x->bad_logged |= bit;
        log_warning("%s: a message that can never be delivered (%s): ignored (logged once per kind)", channel,
                    xcompat_bad_to_string(why));
}

static void on_message(RedisConn *c, const char *channel, const char *message, size_t len, void *userdata) {
        Xcompat *x = userdata;
        const char *component = channel + strlen(XCOMPAT_CHANNEL_PREFIX);
        Home *h = home_find(x, component);
        XcompatBad why = XCOMPAT_BAD_NOT_JSON;
        Msg *m;
        int r;

        x->stats.received++;
        if (!h) {
                x->stats.dropped++; /* not homed here (any more): nobody to take it */
                return;
        }
        m = calloc(1, sizeof *m);
        if (!m) {
                x->stats.overflow++;
                return;
        }
        m->home = h;
        r = xcompat_message_to_routed(component, message, len, x->incarnation, &m->routed, &m->source, &why);
        if (r == -EBADMSG) {
                msg_free(m);
                log_bad(x, channel, why);
                return;
        }
        if (r >= 0)
                r = next_seq(x, component, m->source, &m->seq);
        if (r == -E2BIG) {
                /* past SOURCES_MAX names (anyone may publish any sourceComponent), the others are
                 * numbered as "unknown": xcomponent-ai ignores the name, and the message still goes */
                if (!x->sources_logged)
                        log_warning("%s: messages from more than %d sources: the others are numbered as %s "
                                    "(logged once)",
                                    channel, SOURCES_MAX, SOURCE_UNKNOWN);
                x->sources_logged = true;
                free(m->source);
                m->source = strdup(SOURCE_UNKNOWN);
                r = m->source ? 0 : -ENOMEM;
                if (r >= 0 &&
                    json_object_object_add(m->routed, "sourceComponent", json_object_new_string(SOURCE_UNKNOWN)) < 0)
                        r = -ENOMEM;
                if (r >= 0)
                        r = next_seq(x, component, m->source, &m->seq);
        }
        if (r >= 0)
                r = home_push(h, m);
        if (r < 0) {
                msg_free(m);
                x->stats.overflow++;
                if (!x->overflow_logged)
                        log_warning("%s: %s: messages from xcomponent-ai dropped (logged once)", component,
                                    r == -ENOBUFS ? "too many wait for the worker" : strerror(-r));
                x->overflow_logged = true;
                return;
        }
        home_send(h);
}

int xcompat_add_home(Xcompat *x, const char *component) {
        _cleanup_(freep) char *channel = NULL;
        Home *h, **v;
        int r;

        assert(x && component);
        if (home_find(x, component))
                return 0;
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->x = x;
        h->component = strdup(component);
        if (!h->component || asprintf(&h->bus_name, "org.xfsm1.%s", component) < 0 ||
            asprintf(&h->path, "/org/xfsm1/%s", component) < 0 ||
            asprintf(&channel, XCOMPAT_CHANNEL_PREFIX "%s", component) < 0) {
                home_free(h);
                return -ENOMEM;
        }
        v = reallocarray(x->homes, x->n_homes + 1, sizeof *v);
        if (!v) {
                home_free(h);
                return -ENOMEM;
        }
        x->homes = v;
        x->homes[x->n_homes++] = h;
        if (remote_find(x, component))
                log_warning("%s is homed here and listed in XcomponentComponents=: this node serves it, and its "
                            "workers' events for it stay here; remove it from the list",
                            component);
        r = redis_conn_subscribe(x->sub, channel, on_message, x);
        if (r < 0 && r != -EEXIST)
                return log_error_errno(r, "Cannot subscribe to %s: %m", channel);
        log_info("%s is homed here: taking xcomponent-ai's messages on %s", component, channel);
        return 0;
}

/* ---- toward xcomponent-ai -------------------------------------------------------------------- */

/* One Deliver or DeliverBatch waiting for its PUBLISHes. The answer is the
 * prefix of its events taken: published (Redis answered each PUBLISH, in
 * order) or refused (no such message: dropped, counted). */
typedef struct Publish {
        Xcompat *x;
        sd_bus_message *msg;
        bool batch;
        size_t n_cmds, answered;
        size_t taken;  /* the prefix taken so far */
        size_t *ends;  /* ends[i]: the prefix taken once the i-th PUBLISH succeeded */
        bool broken;
} Publish;

static void publish_free(Publish *p) {
        sd_bus_message_unref(p->msg);
        free(p->ends);
        free(p);
}

static void publish_answer(Publish *p) {
        if (p->taken == 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                (void) bus_error_setf_xfsm(&e, -XFSM_E_UNAVAILABLE, "Redis did not take the message for xcomponent-ai");
                (void) sd_bus_reply_method_error(p->msg, &e);
        } else
                (void) sd_bus_reply_method_return(p->msg, "u", (uint32_t) (p->batch ? p->taken : 1));
        publish_free(p);
}

static void on_published(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Publish *p = userdata;
        size_t i = p->answered++;

        if (error < 0 || !reply || reply->type == REDIS_REPLY_ERROR)
                p->broken = true;
        else if (!p->broken) {
                p->taken = p->ends[i];
                p->x->stats.published++;
        }
        if (p->answered == p->n_cmds)
                publish_answer(p);
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000ULL + (uint64_t) ts.tv_nsec / 1000000ULL;
}

/* Publish events[0..n) for rm's component, in order, pipelined. */
static int publish_events(Remote *rm, sd_bus_message *msg, const DeliverEvent *ev, size_t n, bool batch,
                          sd_bus_error *error) {
        Xcompat *x = rm->x;
        Publish *p;

        if (!redis_conn_is_up(x->writer))
                return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE, "Redis is unreachable: the event for %s waits",
                                           rm->component);
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (Publish) { .x = x, .msg = sd_bus_message_ref(msg), .batch = batch, .ends = calloc(n, sizeof *p->ends) };
        if (!p->ends) {
                publish_free(p);
                return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
                _cleanup_(freep) char *text = NULL;
                int r = xcompat_routed_to_message(ev[k].json, now_ms(), &text);

                if (r == -EOPNOTSUPP || r == -EBADMSG) {
                        /* taken, not published: xcomponent-ai has no message for it */
                        x->stats.refused++;
                        if (!x->create_logged)
                                log_warning("%s is served by xcomponent-ai, which has no message for %s from %s: "
                                            "dropped (logged once)",
                                            rm->component, r == -EOPNOTSUPP ? "a creation" : "an unreadable event",
                                            ev[k].source);
                        x->create_logged = true;
                        if (p->n_cmds == 0)
                                p->taken = k + 1;
                        else
                                p->ends[p->n_cmds - 1] = k + 1;
                        continue;
                }
                if (r >= 0)
                        r = redis_command(x->writer, PUBLISH_USEC, on_published, p, "PUBLISH %s %s", rm->channel,
                                          text);
                if (r < 0)
                        break; /* this one and the rest come again */
                p->ends[p->n_cmds++] = k + 1;
        }
        if (p->n_cmds == 0) {
                if (p->taken == 0) {
                        publish_free(p);
                        return bus_error_setf_xfsm(error, -XFSM_E_UNAVAILABLE,
                                                   "Redis is unreachable: the event for %s waits", rm->component);
                }
                publish_answer(p);
        }
        return 1;
}

static Remote *remote_find(Xcompat *x, const char *component) {
        for (size_t k = 0; k < x->n_remotes; k++)
                if (streq(component, x->remotes[k]->component))
                        return x->remotes[k];
        return NULL;
}

static int method_deliver(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Remote *rm = userdata;
        DeliverEvent ev;
        int r;

        r = sd_bus_message_read(msg, "stus", &ev.source, &ev.seq, &ev.rule, &ev.json);
        if (r < 0)
                return r;
        r = access_check(rm->x->access, msg, NULL, &(AccessDetails) { rm->component, NULL, NULL }, method_deliver, rm,
                         error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return publish_events(rm, msg, &ev, 1, false, error);
}

static int method_deliver_batch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Remote *rm = userdata;
        _cleanup_(freep) DeliverEvent *ev = NULL;
        size_t n = 0;
        int r;

        r = access_check(rm->x->access, msg, NULL, &(AccessDetails) { rm->component, NULL, NULL }, method_deliver_batch,
                         rm, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = delivery_read_batch(msg, &ev, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return sd_bus_reply_method_return(msg, "u", 0);
        return publish_events(rm, msg, ev, n, true, error);
}

static const sd_bus_vtable remote_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Deliver", SD_BUS_ARGS("s", source, "t", sequence, "u", rule, "s", routed_json),
                                SD_BUS_RESULT("u", delivered), method_deliver, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeliverBatch", SD_BUS_ARGS("a(stus)", events), SD_BUS_RESULT("u", taken),
                                method_deliver_batch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static Remote *remote_free(Remote *rm) {
        if (!rm)
                return NULL;
        sd_bus_slot_unref(rm->slot);
        free(rm->component);
        free(rm->channel);
        free(rm);
        return NULL;
}

static int remote_add(Xcompat *x, const char *component) {
        _cleanup_(freep) char *path = NULL;
        Remote *rm, **v;
        int r;

        if (remote_find(x, component) || !name_is_identifier(component, 64))
                return log_error_errno(-EINVAL, "XcomponentComponents=%s: not a component name, or listed twice",
                                       component);
        rm = calloc(1, sizeof *rm);
        if (!rm)
                return -ENOMEM;
        rm->x = x;
        rm->component = strdup(component);
        if (!rm->component || asprintf(&rm->channel, XCOMPAT_CHANNEL_PREFIX "%s", component) < 0 ||
            asprintf(&path, PREFIX "%s", component) < 0) {
                remote_free(rm);
                return -ENOMEM;
        }
        v = reallocarray(x->remotes, x->n_remotes + 1, sizeof *v);
        if (!v) {
                remote_free(rm);
                return -ENOMEM;
        }
        x->remotes = v;
        x->remotes[x->n_remotes++] = rm;
        /* an object of its own under the fallback of the components of other nodes: its path wins */
        r = sd_bus_add_object_vtable(x->bus, &rm->slot, path, "org.xfsm1.Component", remote_vtable, rm);
        if (r < 0)
                return log_error_errno(r, "Cannot serve %s: %m", path);
        log_info("%s is served by xcomponent-ai: routed events for it are published on %s", component, rm->channel);
        return 0;
}

/* ---- counters: org.xfsm1.XcomponentCompat at /org/xfsm1/Bridge ------------------------------- */

static int property_get_counter(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Xcompat *x = userdata;
        const XcompatStats *s = &x->stats;
        uint64_t v = streq(property, "Received")    ? s->received
                     : streq(property, "Delivered") ? s->delivered
                     : streq(property, "Dropped")   ? s->dropped
                     : streq(property, "Malformed") ? s->malformed
                     : streq(property, "Overflow")  ? s->overflow
                     : streq(property, "Published") ? s->published
                                                    : s->refused;

        return sd_bus_message_append(reply, "t", v);
}

static const sd_bus_vtable counters_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Received", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Delivered", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Dropped", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Malformed", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Overflow", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Published", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("Refused", "t", property_get_counter, 0, 0),
        SD_BUS_VTABLE_END,
};

/* A fallback, as org.xfsm1.Bridge's at the same path (sd-bus keeps one kind per path). */
static int counters_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                         sd_bus_error *error) {
        if (!streq(path, "/org/xfsm1/Bridge"))
                return 0;
        *found = userdata;
        return 1;
}

/* ---- the module ---------------------------------------------------------------------------- */

int xcompat_new(Xcompat **ret, sd_event *event, sd_bus *bus, RedisConn *writer, const RedisTarget *target,
                Access *access, char *const *components) {
        _cleanup_(xcompat_freep) Xcompat *x = NULL;
        uint8_t id[16];
        int r;

        assert(ret);
        x = calloc(1, sizeof *x);
        if (!x)
                return -ENOMEM;
        x->event = sd_event_ref(event);
        x->bus = sd_bus_ref(bus);
        x->writer = writer;
        x->access = access;
        /* a new incarnation each start: the numbers below start again from 1 */
        if (getrandom(id, sizeof id, 0) != sizeof id)
                return -errno ?: -EIO;
        for (size_t k = 0; k < sizeof id; k++)
                snprintf(x->incarnation + 2 * k, 3, "%02x", id[k]);
        r = redis_conn_new(&x->sub, event, target, "xcompat", NULL, NULL);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(bus, &x->counters_slot, "/org/xfsm1/Bridge", "org.xfsm1.XcomponentCompat",
                                       counters_vtable, counters_find, x);
        if (r < 0)
                return r;
        for (char *const *c = components; c && *c; c++) {
                r = remote_add(x, *c);
                if (r < 0)
                        return r;
        }
        r = redis_conn_start(x->sub);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(x);
        return 0;
}

Xcompat *xcompat_free(Xcompat *x) {
        if (!x)
                return NULL;
        x->sub = redis_conn_free(x->sub);
        sd_bus_slot_unref(x->counters_slot);
        for (size_t k = 0; k < x->n_homes; k++)
                home_free(x->homes[k]);
        free(x->homes);
        for (size_t k = 0; k < x->n_remotes; k++)
                remote_free(x->remotes[k]);
        free(x->remotes);
        for (size_t k = 0; k < x->n_counters; k++) {
                free(x->counters[k].component);
                free(x->counters[k].source);
        }
        free(x->counters);
        sd_bus_unref(x->bus);
        sd_event_unref(x->event);
        free(x);
        return NULL;
}

XcompatStats xcompat_stats(const Xcompat *x) {
        return x ? x->stats : (XcompatStats) {};
}
