/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The outbox (see outbox.h): one FIFO per target, each with its own
 * delivery (a batch of its oldest entries) in flight and its own back-off. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "outbox.h"

#define BACKOFF_FIRST_USEC 200000ULL
#define BACKOFF_MAX_USEC 30000000ULL

typedef struct OutQueue {
        Outbox *outbox;
        char *target;
        OutEntry **v; /* v[head .. head+n); each entry its own allocation, so that one in flight stays put */
        size_t head, n, cap;
        size_t inflight;       /* v[head .. head+inflight) are being delivered */
        bool waiting;          /* a back-off runs */
        bool warned;           /* the current outage was logged */
        uint64_t backoff;
        sd_event_source *retry;
} OutQueue;

struct Outbox {
        sd_event *event;
        const OutboxOps *ops;
        void *userdata;
        bool enabled;
        OutQueue **queues;
        size_t n_queues;
        size_t total;
};

int outbox_new(Outbox **ret, sd_event *event, const OutboxOps *ops, void *userdata) {
        Outbox *o;

        assert(ret);
        assert(ops && ops->send);
        o = calloc(1, sizeof *o);
        if (!o)
                return -ENOMEM;
        o->event = sd_event_ref(event);
        o->ops = ops;
        o->userdata = userdata;
        *ret = o;
        return 0;
}

static OutEntry *entry_free(OutEntry *e) {
        if (!e)
                return NULL;
        free(e->target);
        free(e->source);
        free(e->incarnation);
        free(e->json);
        free(e);
        return NULL;
}

static OutQueue *queue_free(OutQueue *q) {
        if (!q)
                return NULL;
        for (size_t k = 0; k < q->n; k++)
                entry_free(q->v[q->head + k]);
        free(q->v);
        free(q->target);
        sd_event_source_disable_unref(q->retry);
        free(q);
        return NULL;
}

Outbox *outbox_free(Outbox *o) {
        if (!o)
                return NULL;
        for (size_t k = 0; k < o->n_queues; k++)
                queue_free(o->queues[k]);
        free(o->queues);
        sd_event_unref(o->event);
        free(o);
        return NULL;
}

static OutQueue *queue_find(const Outbox *o, const char *target) {
        for (size_t k = 0; k < o->n_queues; k++)
                if (streq(o->queues[k]->target, target))
                        return o->queues[k];
        return NULL;
}

static OutQueue *queue_get(Outbox *o, const char *target) {
        OutQueue *q = queue_find(o, target), **v;

        if (q)
                return q;
        v = reallocarray(o->queues, o->n_queues + 1, sizeof *v);
        if (!v)
                return NULL;
        o->queues = v;
        q = calloc(1, sizeof *q);
        if (!q)
                return NULL;
        q->outbox = o;
        q->target = strdup(target);
        if (!q->target)
                return queue_free(q);
        o->queues[o->n_queues++] = q;
        return q;
}

static OutEntry *queue_at(const OutQueue *q, size_t k) {
        return q->v[q->head + k];
}

static int queue_push(OutQueue *q, const char *target, const RouteId *id, const char *json, bool durable) {
        OutEntry *e;

        if (q->head + q->n == q->cap) {
                if (q->head > 0 && q->head >= q->n) {
                        /* most of the array is consumed: move the live part down */
                        memmove(q->v, q->v + q->head, q->n * sizeof *q->v);
                        q->head = 0;
                } else {
                        size_t cap = q->cap ? q->cap * 2 : 16;
                        OutEntry **v = reallocarray(q->v, cap, sizeof *v);
                        if (!v)
                                return -ENOMEM;
                        q->v = v;
                        q->cap = cap;
                }
        }
        e = malloc(sizeof *e);
        if (!e)
                return -ENOMEM;
        *e = (OutEntry) { .target = strdup(target), .source = strdup(id->source),
                          .incarnation = strdup(id->incarnation ?: ""), .seq = id->seq, .rule = id->rule,
                          .json = strdup(json), .durable = durable };
        if (!e->target || !e->source || !e->incarnation || !e->json) {
                entry_free(e);
                return -ENOMEM;
        }
        q->v[q->head + q->n++] = e;
        q->outbox->total++;
        return 0;
}

static void queue_remove(OutQueue *q, size_t k) {
        assert(k < q->n);
        entry_free(queue_at(q, k));
        if (k == 0) {
                q->head++;
                q->n--;
        } else {
                memmove(q->v + q->head + k, q->v + q->head + k + 1, (q->n - k - 1) * sizeof *q->v);
                q->n--;
        }
        if (q->n == 0)
                q->head = 0;
        q->outbox->total--;
}

static bool entry_is(const OutEntry *e, const RouteId *id) {
        return e->seq == id->seq && e->rule == id->rule && streq(e->source, id->source) &&
               streq(e->incarnation, id->incarnation ?: "");
}

static ssize_t queue_index(const OutQueue *q, const RouteId *id) {
        for (size_t k = 0; k < q->n; k++)
                if (entry_is(queue_at(q, k), id))
                        return (ssize_t) k;
        return -1;
}

/* ---- delivery ---------------------------------------------------------------- */

static void queue_try_send(OutQueue *q);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        OutQueue *q = userdata;

        q->waiting = false;
        queue_try_send(q);
        return 0;
}

static void queue_retry_later(OutQueue *q) {
        uint64_t now;
        int r;

        q->backoff = q->backoff ? MIN(q->backoff * 2, BACKOFF_MAX_USEC) : BACKOFF_FIRST_USEC;
        r = sd_event_now(q->outbox->event, CLOCK_MONOTONIC, &now);
        if (r >= 0 && !q->retry) {
                r = sd_event_add_time(q->outbox->event, &q->retry, CLOCK_MONOTONIC, now + q->backoff, 1000, on_retry,
                                      q);
                if (r >= 0)
                        (void) sd_event_source_set_description(q->retry, "outbox-retry");
        } else if (r >= 0) {
                r = sd_event_source_set_time(q->retry, now + q->backoff);
                if (r >= 0)
                        r = sd_event_source_set_enabled(q->retry, SD_EVENT_ONESHOT);
        }
        if (r < 0) {
                log_error_errno(r, "Failed to arm the outbox retry for %s: %m", q->target);
                return;
        }
        q->waiting = true;
}

static void queue_try_send(OutQueue *q) {
        Outbox *o = q->outbox;
        const OutEntry *batch[OUTBOX_BATCH];
        size_t n = 0;
        int r;

        if (!o->enabled || q->inflight > 0 || q->waiting)
                return;
        while (n < MIN(q->n, (size_t) OUTBOX_BATCH) && queue_at(q, n)->durable)
                batch[n] = queue_at(q, n), n++;
        if (n == 0)
                return;
        q->inflight = n;
        r = o->ops->send(o->userdata, batch, n);
        if (r < 0) {
                q->inflight = 0;
                log_debug("Cannot start delivering to %s: %s", q->target, strerror(-r));
                queue_retry_later(q);
        }
}

void outbox_kick(Outbox *o) {
        assert(o);
        for (size_t k = 0; k < o->n_queues; k++)
                queue_try_send(o->queues[k]);
}

void outbox_set_enabled(Outbox *o, bool enabled) {
        assert(o);
        o->enabled = enabled;
        outbox_kick(o);
}

void outbox_delivered(Outbox *o, const char *target, size_t taken, int r, const char *message) {
        OutQueue *q;
        size_t sent;

        assert(o);
        q = queue_find(o, target);
        if (!q || q->inflight == 0)
                return;
        sent = q->inflight;
        q->inflight = 0;
        if (r < 0)
                taken = 0;
        taken = MIN(taken, sent);
        for (size_t k = 0; k < taken; k++) {
                if (o->ops->acked)
                        o->ops->acked(o->userdata, queue_at(q, 0));
                queue_remove(q, 0);
        }
        if (taken == 0) {
                if (!q->warned)
                        log_warning("Routed events for %s wait: %s; retrying", target,
                                    r < 0 ? message ?: strerror(-r) : message ?: "the target took none");
                q->warned = true;
                queue_retry_later(q);
                return;
        }
        if (q->warned)
                log_info("Routed events for %s flow again", target);
        q->warned = false;
        q->backoff = 0;
        queue_try_send(q); /* what was not taken, and what came meanwhile */
}

/* ---- adding, recovery, counting ---------------------------------------------- */

int outbox_add(Outbox *o, const char *target, const RouteId *id, const char *json, bool durable) {
        OutQueue *q;
        int r;

        assert(o);
        assert(target && id && json);
        q = queue_get(o, target);
        if (!q)
                return -ENOMEM;
        r = queue_push(q, target, id, json, durable);
        if (r < 0)
                return r;
        if (durable)
                queue_try_send(q);
        return 0;
}

void outbox_durable(Outbox *o) {
        assert(o);
        for (size_t k = 0; k < o->n_queues; k++)
                for (size_t j = 0; j < o->queues[k]->n; j++)
                        queue_at(o->queues[k], j)->durable = true;
        outbox_kick(o);
}

size_t outbox_pending(const Outbox *o, const char *target) {
        const OutQueue *q;

        assert(o);
        if (!target)
                return o->total;
        q = queue_find(o, target);
        return q ? q->n : 0;
}

const OutEntry *outbox_head(const Outbox *o, const char *target) {
        const OutQueue *q = queue_find(o, target);

        return q && q->n > 0 ? queue_at(q, 0) : NULL;
}

bool outbox_inflight(const Outbox *o, const char *target) {
        const OutQueue *q = queue_find(o, target);

        return q && q->inflight > 0;
}

/* ---- record forms ---------------------------------------------------------------- */

static void write_id(FILE *f, const char *target, const RouteId *id) {
        fputs("{\"target\":", f);
        json_write_string(f, target);
        fputs(",\"source\":", f);
        json_write_string(f, id->source);
        if (!isempty(id->incarnation)) {
                fputs(",\"incarnation\":", f);
                json_write_string(f, id->incarnation);
        }
        fprintf(f, ",\"seq\":%llu,\"rule\":%u", (unsigned long long) id->seq, id->rule);
}

void outbox_write_entry(FILE *f, const char *target, const RouteId *id, const char *json) {
        write_id(f, target, id);
        fputs(",\"event\":", f);
        fputs(json, f); /* a JSON object already */
        fputc('}', f);
}

void outbox_write_ack(FILE *f, const OutEntry *e) {
        RouteId id = out_entry_id(e);

        write_id(f, e->target, &id);
        fputc('}', f);
}

void outbox_write_all(const Outbox *o, const char *source, FILE *f) {
        bool first = true;

        fputc('[', f);
        for (size_t k = 0; k < o->n_queues; k++)
                for (size_t j = 0; j < o->queues[k]->n; j++) {
                        const OutEntry *e = queue_at(o->queues[k], j);
                        RouteId id = out_entry_id(e);
                        if (!streq(e->source, source))
                                continue;
                        if (!first)
                                fputc(',', f);
                        outbox_write_entry(f, e->target, &id, e->json);
                        first = false;
                }
        fputc(']', f);
}

static int read_id(json_object *e, const char **ret_target, RouteId *ret_id) {
        const char *target = json_get_string(e, "target"), *source = json_get_string(e, "source");

        if (!target || !source)
                return -EBADMSG;
        *ret_target = target;
        *ret_id = (RouteId) { .source = source, .incarnation = json_get_string(e, "incarnation") ?: "",
                              .seq = json_get_uint64(e, "seq"), .rule = (unsigned) json_get_uint64(e, "rule") };
        return 0;
}

int outbox_read_entries(Outbox *o, json_object *list) {
        if (!json_object_is_type(list, json_type_array))
                return -EBADMSG;
        for (size_t k = 0; k < json_object_array_length(list); k++) {
                json_object *e = json_object_array_get_idx(list, k), *ev;
                const char *target;
                RouteId id;
                OutQueue *q;
                int r;

                if (read_id(e, &target, &id) < 0 || !json_object_object_get_ex(e, "event", &ev))
                        return -EBADMSG;
                q = queue_get(o, target);
                if (!q)
                        return -ENOMEM;
                if (queue_index(q, &id) >= 0)
                        continue; /* the snapshot and a record both hold it (journals before format 2) */
                r = queue_push(q, target, &id, json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN), true);
                if (r < 0)
                        return r;
        }
        return 0;
}

int outbox_read_acks(Outbox *o, json_object *list) {
        if (!json_object_is_type(list, json_type_array))
                return -EBADMSG;
        for (size_t k = 0; k < json_object_array_length(list); k++) {
                const char *target;
                RouteId id;
                OutQueue *q;
                ssize_t i;

                if (read_id(json_object_array_get_idx(list, k), &target, &id) < 0)
                        return -EBADMSG;
                q = queue_find(o, target);
                if (q && (i = queue_index(q, &id)) >= 0)
                        queue_remove(q, (size_t) i);
        }
        return 0;
}
