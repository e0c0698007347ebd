/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Routed events in (see inbound.h): one Inbox per component homed here,
 * each with its own connection, its queue of entries read and not yet
 * acknowledged, and its one delivery in flight. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "entry.h"
#include "inbound.h"
#include "log.h"
#include "macro.h"

#define READ_COUNT 128
#define BLOCK_MS 2000
#define READ_TIMEOUT_USEC ((BLOCK_MS + 3000ULL) * 1000ULL)
#define COMMAND_USEC (3000ULL * 1000ULL)
#define RETRY_MIN_USEC (100ULL * 1000ULL)
#define RETRY_MAX_USEC (5000ULL * 1000ULL)

/* An entry as read: its id and its field/value strings. */
typedef struct Raw {
        char *id;
        char **argv;
        size_t *argvlen;
        size_t n;
} Raw;

typedef struct Inbox {
        Inbound *inbound;
        char *component;
        char *key, *dead_key;
        RedisConn *conn;
        bool group;         /* the consumer group exists */
        bool pending_phase; /* reading what was read before and never acknowledged */
        char *cursor;       /* the last pending id read */
        bool reading;
        Raw *queue;         /* queue[head .. n) */
        size_t head, n, cap;
        size_t n_inflight;  /* entries delivered together, waiting for the worker's answer: */
        char *inflight[OUTBOX_BATCH]; /* their ids */
        Entry *entries[OUTBOX_BATCH]; /* and the entries (the delivery reads them while in flight) */
        OutEntry outs[OUTBOX_BATCH];
        uint64_t backoff;
        sd_event_source *retry;
        bool warned;
        unsigned dead_logged; /* a bit per dead reason logged once */
        InboundStats stats;
} Inbox;

struct Inbound {
        sd_event *event;
        RedisTarget target;
        NodeKeyring *keyring;
        Directory *directory;
        Delivery *delivery;
        Inbox **inboxes;
        size_t n_inboxes;
        bool freeing;
};

static void inbox_process(Inbox *ib);
static void inbox_read(Inbox *ib);

static void raw_done(Raw *r) {
        for (size_t k = 0; k < r->n; k++)
                free(r->argv[k]);
        free(r->argv);
        free(r->argvlen);
        free(r->id);
        *r = (Raw) {};
}

static void queue_clear(Inbox *ib) {
        for (size_t k = ib->head; k < ib->n; k++)
                raw_done(&ib->queue[k]);
        ib->head = ib->n = 0;
        ib->stats.waiting = 0;
}

static void inflight_clear(Inbox *ib) {
        for (size_t k = 0; k < ib->n_inflight; k++) {
                ib->inflight[k] = mfree(ib->inflight[k]);
                ib->entries[k] = entry_free(ib->entries[k]);
        }
        ib->n_inflight = 0;
}

static Inbox *inbox_free(Inbox *ib) {
        if (!ib)
                return NULL;
        redis_conn_free(ib->conn);
        queue_clear(ib);
        free(ib->queue);
        sd_event_source_disable_unref(ib->retry);
        inflight_clear(ib);
        free(ib->cursor);
        free(ib->key);
        free(ib->dead_key);
        free(ib->component);
        free(ib);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Inbox *, inbox_free);

static Inbox *inbox_find(const Inbound *in, const char *component) {
        for (size_t k = 0; k < in->n_inboxes; k++)
                if (streq(in->inboxes[k]->component, component))
                        return in->inboxes[k];
        return NULL;
}

/* ---- acknowledging, the dead stream, retrying ----------------------------------- */

static Raw *inbox_head(Inbox *ib) {
        return ib->head < ib->n ? &ib->queue[ib->head] : NULL;
}

static void inbox_pop(Inbox *ib) {
        raw_done(&ib->queue[ib->head++]);
        if (ib->head == ib->n)
                ib->head = ib->n = 0;
        ib->stats.waiting = ib->n - ib->head;
}

/* Taken (or dead): acknowledged, and the stream trimmed up to it (entries
 * are acknowledged in id order by the one consumer: all before it are). */
static void inbox_ack(Inbox *ib, const char *id) {
        unsigned long long ms, seq;
        char next[64];

        (void) redis_command(ib->conn, COMMAND_USEC, NULL, NULL, "XACK %s xfsm %s", ib->key, id);
        if (sscanf(id, "%llu-%llu", &ms, &seq) == 2) {
                snprintf(next, sizeof next, "%llu-%llu", ms, seq + 1);
                (void) redis_command(ib->conn, COMMAND_USEC, NULL, NULL, "XTRIM %s MINID %s", ib->key, next);
        }
}

static void inbox_dead(Inbox *ib, const Raw *r, const char *reason, const char *detail) {
        size_t n = 10 + r->n, k = 0;
        _cleanup_(freep) const char **argv = calloc(n, sizeof *argv);
        _cleanup_(freep) size_t *argvlen = calloc(n, sizeof *argvlen);

        if (!argv || !argvlen)
                return; /* the entry stays pending: read again later */
#define ARG(s, l)                    \
        do {                         \
                argv[k] = (s);       \
                argvlen[k] = (l);    \
                k++;                 \
        } while (0)
        ARG("XADD", 4);
        ARG(ib->dead_key, strlen(ib->dead_key));
        ARG("*", 1);
        ARG("reason", 6);
        ARG(reason, strlen(reason));
        ARG("detail", 6);
        ARG(detail, strlen(detail));
        ARG("id", 2);
        ARG(r->id, strlen(r->id));
        for (size_t j = 0; j + 1 < r->n; j += 2) {
                ARG(r->argv[j], r->argvlen[j]);
                ARG(r->argv[j + 1], r->argvlen[j + 1]);
        }
#undef ARG
        (void) redis_command_argv(ib->conn, COMMAND_USEC, NULL, NULL, k, argv, argvlen);
        inbox_ack(ib, r->id);
        ib->stats.dead++;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Inbox *ib = userdata;

        inbox_process(ib);
        return 0;
}

static void inbox_retry_later(Inbox *ib) {
        uint64_t now;

        ib->backoff = ib->backoff ? MIN(ib->backoff * 2, RETRY_MAX_USEC) : RETRY_MIN_USEC;
        if (sd_event_now(ib->inbound->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!ib->retry) {
                if (sd_event_add_time(ib->inbound->event, &ib->retry, CLOCK_MONOTONIC, now + ib->backoff, 1000,
                                      on_retry, ib) < 0)
                        return;
                (void) sd_event_source_set_description(ib->retry, "inbox-retry");
        } else {
                (void) sd_event_source_set_time(ib->retry, now + ib->backoff);
                (void) sd_event_source_set_enabled(ib->retry, SD_EVENT_ONESHOT);
        }
}

/* ---- delivering to the worker ---------------------------------------------------- */

static int is_home(const char *component, const char *node, void *userdata) {
        Inbox *ib = userdata;
        const char *home = directory_home(ib->inbound->directory, component);

        if (!home)
                return -EAGAIN; /* not known yet: read again later */
        return streq(home, node);
}

/* Acknowledge ids[0..n) at once, and trim the stream up to the last. */
static void inbox_ack_many(Inbox *ib, char *const *ids, size_t n) {
        const char *argv[3 + OUTBOX_BATCH];
        size_t argvlen[3 + OUTBOX_BATCH], k = 0;
        unsigned long long ms, seq;
        char next[64];

        if (n == 0)
                return;
        argv[k] = "XACK", argvlen[k++] = 4;
        argv[k] = ib->key, argvlen[k++] = strlen(ib->key);
        argv[k] = "xfsm", argvlen[k++] = 4;
        for (size_t j = 0; j < n; j++)
                argv[k] = ids[j], argvlen[k++] = strlen(ids[j]);
        (void) redis_command_argv(ib->conn, COMMAND_USEC, NULL, NULL, k, argv, argvlen);
        if (sscanf(ids[n - 1], "%llu-%llu", &ms, &seq) == 2) {
                snprintf(next, sizeof next, "%llu-%llu", ms, seq + 1);
                (void) redis_command(ib->conn, COMMAND_USEC, NULL, NULL, "XTRIM %s MINID %s", ib->key, next);
        }
}

static void on_delivered(void *userdata, const char *target, size_t taken, int r, const char *message) {
        Inbound *in = userdata;
        Inbox *ib = inbox_find(in, target);
        bool definitive = r == -XFSM_E_INVALID_ARGUMENT || r == -XFSM_E_INVALID_PAYLOAD;
        size_t sent;

        if (!ib || ib->n_inflight == 0)
                return;
        sent = ib->n_inflight;
        if (r < 0)
                taken = 0;
        taken = MIN(taken, sent);
        inbox_ack_many(ib, ib->inflight, taken);
        ib->stats.delivered += taken;
        for (size_t k = 0; k < taken; k++) {
                Raw *head = inbox_head(ib);
                if (head && streq(head->id, ib->inflight[k]))
                        inbox_pop(ib);
        }
        if (taken == 0 && definitive) {
                /* the worker can never read the first: the dead stream */
                Raw *head = inbox_head(ib);
                log_warning("%s: entry %s refused by the worker: %s", ib->component, ib->inflight[0], message ?: "");
                if (head && streq(head->id, ib->inflight[0])) {
                        inbox_dead(ib, head, "refused", message ?: "");
                        inbox_pop(ib);
                }
                taken = 1; /* progress */
        }
        inflight_clear(ib);
        if (taken == 0) {
                if (!ib->warned)
                        log_warning("%s: routed events wait for the worker: %s; retrying", ib->component,
                                    message ?: strerror(-r));
                ib->warned = true;
                inbox_retry_later(ib);
                return;
        }
        if (ib->warned)
                log_info("%s: routed events flow to the worker again", ib->component);
        ib->warned = false;
        ib->backoff = 0;
        inbox_process(ib);
}

/* Read the entry at queue position k: ENTRY_VALID with *ret, ENTRY_DEAD
 * (dead filled), or <0 (cannot be told now). A node not known is looked
 * for once more among the keys first (installed after start). */
static int inbox_parse(Inbox *ib, const Raw *r, Entry **ret, EntryDead *dead) {
        Inbound *in = ib->inbound;
        int k;

        k = entry_parse(in->keyring, ib->component, is_home, ib, (const char *const *) r->argv, r->argvlen, r->n, ret,
                        dead);
        if (k == ENTRY_DEAD && dead->reason == ENTRY_DEAD_UNKNOWN_NODE && node_keyring_refresh(in->keyring, NULL) > 0)
                k = entry_parse(in->keyring, ib->component, is_home, ib, (const char *const *) r->argv, r->argvlen,
                                r->n, ret, dead);
        return k;
}

/* Deliver what waits: dead entries at the head go to the dead stream; then
 * the valid entries that follow, up to OUTBOX_BATCH, together, in order. */
static void inbox_process(Inbox *ib) {
        Inbound *in = ib->inbound;
        const OutEntry *batch[OUTBOX_BATCH];
        Raw *r;

        while (ib->n_inflight == 0 && (r = inbox_head(ib))) {
                size_t n = 0;
                int k;

                for (size_t j = ib->head; j < ib->n && n < OUTBOX_BATCH; j++) {
                        Entry *e = NULL;
                        EntryDead dead = {};

                        k = inbox_parse(ib, &ib->queue[j], &e, &dead);
                        if (k == ENTRY_VALID) {
                                ib->inflight[n] = strdup(ib->queue[j].id);
                                if (!ib->inflight[n]) {
                                        entry_free(e);
                                        if (n > 0)
                                                break;
                                        inbox_retry_later(ib);
                                        return;
                                }
                                ib->entries[n] = e;
                                ib->outs[n] = (OutEntry) {
                                        .target = ib->component,
                                        .source = (char *) xfsm_routed_source_component(e->routed),
                                        .incarnation = (char *) xfsm_routed_source_incarnation(e->routed),
                                        .seq = xfsm_routed_source_seq(e->routed),
                                        .rule = xfsm_routed_rule_index(e->routed),
                                        .json = e->body,
                                };
                                batch[n] = &ib->outs[n];
                                ib->n_inflight = ++n;
                                continue;
                        }
                        if (n > 0)
                                break; /* dead or not readable now: after the batch, at the head */
                        if (k == ENTRY_DEAD) {
                                unsigned bit = 1u << (dead.reason % 32);
                                if (!(ib->dead_logged & bit))
                                        log_warning("%s: entry %s can never apply (%s: %s): to %s (logged once per "
                                                    "reason)",
                                                    ib->component, r->id, entry_dead_reason_to_string(dead.reason),
                                                    dead.detail, ib->dead_key);
                                ib->dead_logged |= bit;
                                inbox_dead(ib, r, entry_dead_reason_to_string(dead.reason), dead.detail);
                                inbox_pop(ib);
                                break; /* the loop starts again from the new head */
                        }
                        log_debug("%s: entry %s cannot be read now: %s", ib->component, r->id, strerror(-k));
                        inbox_retry_later(ib);
                        return;
                }
                if (n == 0)
                        continue;
                k = delivery_send(in->delivery, batch, n);
                if (k < 0) {
                        inflight_clear(ib);
                        log_debug("%s: cannot deliver now: %s", ib->component, strerror(-k));
                        inbox_retry_later(ib);
                        return;
                }
        }
        if (!inbox_head(ib))
                inbox_read(ib);
}

/* ---- reading ------------------------------------------------------------------------ */

static int raw_from_reply(Raw *ret, const redisReply *entry) {
        const redisReply *fields;
        Raw r = {};

        if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        r.id = strdup(entry->element[0]->str);
        if (!r.id)
                return -ENOMEM;
        fields = entry->element[1];
        if (fields->type == REDIS_REPLY_ARRAY) {
                r.argv = calloc(fields->elements + 1, sizeof *r.argv);
                r.argvlen = calloc(fields->elements + 1, sizeof *r.argvlen);
                if (!r.argv || !r.argvlen) {
                        raw_done(&r);
                        return -ENOMEM;
                }
                for (size_t k = 0; k < fields->elements; k++) {
                        const redisReply *f = fields->element[k];
                        const char *s = f->type == REDIS_REPLY_STRING ? f->str : "";
                        size_t l = f->type == REDIS_REPLY_STRING ? f->len : 0;
                        r.argv[k] = malloc(l + 1);
                        if (!r.argv[k]) {
                                raw_done(&r);
                                return -ENOMEM;
                        }
                        memcpy(r.argv[k], s, l);
                        r.argv[k][l] = 0;
                        r.argvlen[k] = l;
                        r.n++;
                }
        }
        *ret = r;
        return 0;
}

static int queue_push(Inbox *ib, Raw *r) {
        if (ib->n == ib->cap) {
                size_t cap = ib->cap ? ib->cap * 2 : READ_COUNT;
                Raw *v = reallocarray(ib->queue, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                ib->queue = v;
                ib->cap = cap;
        }
        ib->queue[ib->n++] = *r;
        ib->stats.waiting = ib->n - ib->head;
        return 0;
}

static void on_read(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Inbox *ib = userdata;
        size_t got = 0;

        ib->reading = false;
        if (ib->inbound->freeing || error < 0)
                return; /* the connection is gone: read again once it is back */
        if (reply->type == REDIS_REPLY_ERROR) {
                if (strstr(reply->str, "NOGROUP"))
                        ib->group = false;
                log_warning("%s: reading %s failed: %s", ib->component, ib->key, reply->str);
                inbox_retry_later(ib);
                return;
        }
        /* [[key, [[id, [field, value, ...]], ...]]], or nil when BLOCK timed out */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
            reply->element[0]->elements == 2) {
                const redisReply *entries = reply->element[0]->element[1];
                for (size_t k = 0; entries->type == REDIS_REPLY_ARRAY && k < entries->elements; k++) {
                        Raw r;
                        if (raw_from_reply(&r, entries->element[k]) < 0)
                                continue;
                        if (ib->pending_phase) {
                                free(ib->cursor);
                                ib->cursor = strdup(r.id);
                        }
                        if (r.argv == NULL) {
                                /* a pending entry trimmed away since: nothing to deliver */
                                inbox_ack(ib, r.id);
                                raw_done(&r);
                                got++;
                                continue;
                        }
                        if (queue_push(ib, &r) < 0) {
                                raw_done(&r);
                                break;
                        }
                        got++;
                }
        }
        if (ib->pending_phase && got == 0) {
                ib->pending_phase = false; /* the pending entries are done: new ones now */
                log_debug("%s: pending entries delivered, reading new ones", ib->component);
        }
        inbox_process(ib);
}

static void on_group(RedisConn *c, int error, const redisReply *reply, void *userdata) {
        Inbox *ib = userdata;

        ib->reading = false;
        if (ib->inbound->freeing || error < 0)
                return;
        if (reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "BUSYGROUP")) {
                log_warning("%s: cannot create the consumer group of %s: %s", ib->component, ib->key, reply->str);
                inbox_retry_later(ib);
                return;
        }
        ib->group = true;
        inbox_read(ib);
}

static void inbox_read(Inbox *ib) {
        int r;

        if (ib->reading || ib->n_inflight > 0 || inbox_head(ib) || !redis_conn_is_up(ib->conn))
                return;
        ib->reading = true;
        if (!ib->group)
                r = redis_command(ib->conn, COMMAND_USEC, on_group, ib, "XGROUP CREATE %s xfsm 0 MKSTREAM", ib->key);
        else if (ib->pending_phase)
                r = redis_command(ib->conn, COMMAND_USEC, on_read, ib, "XREADGROUP GROUP xfsm home COUNT %d STREAMS %s %s",
                                  READ_COUNT, ib->key, ib->cursor ?: "0");
        else
                r = redis_command(ib->conn, READ_TIMEOUT_USEC, on_read, ib,
                                  "XREADGROUP GROUP xfsm home COUNT %d BLOCK %d STREAMS %s >", READ_COUNT, BLOCK_MS,
                                  ib->key);
        if (r < 0)
                ib->reading = false;
}

static void on_connected(RedisConn *c, void *userdata) {
        Inbox *ib = userdata;

        /* what was read and not acknowledged is pending in the group: read it again, first */
        queue_clear(ib);
        ib->pending_phase = true;
        ib->cursor = mfree(ib->cursor);
        ib->reading = false;
        inbox_read(ib);
}

int inbound_add(Inbound *in, const char *component) {
        _cleanup_(inbox_freep) Inbox *ib = NULL;
        Inbox **v;
        int r;

        assert(in && component);
        if (inbox_find(in, component))
                return 0;
        ib = calloc(1, sizeof *ib);
        if (!ib)
                return -ENOMEM;
        ib->inbound = in;
        ib->pending_phase = true;
        ib->component = strdup(component);
        if (!ib->component || asprintf(&ib->key, "xfsm:{%s}:inbox", component) < 0 ||
            asprintf(&ib->dead_key, "xfsm:{%s}:dead", component) < 0)
                return -ENOMEM;
        r = redis_conn_new(&ib->conn, in->event, &in->target, "reader",
                           &(RedisConnCallbacks) { .connected = on_connected }, ib);
        if (r < 0)
                return r;
        v = reallocarray(in->inboxes, in->n_inboxes + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        in->inboxes = v;
        r = redis_conn_start(ib->conn);
        if (r < 0)
                return r;
        in->inboxes[in->n_inboxes++] = TAKE_PTR(ib);
        log_info("%s is homed here: reading xfsm:{%s}:inbox", component, component);
        return 0;
}

void inbound_remove(Inbound *in, const char *component) {
        for (size_t k = 0; k < in->n_inboxes; k++)
                if (streq(in->inboxes[k]->component, component)) {
                        inbox_free(in->inboxes[k]);
                        in->inboxes[k] = in->inboxes[--in->n_inboxes];
                        log_info("%s is not homed here any more: its inbox is not read", component);
                        return;
                }
}

/* ---- the module ---------------------------------------------------------------------- */

int inbound_new(Inbound **ret, sd_event *event, sd_bus *bus, const RedisTarget *target, NodeKeyring *keyring,
                Directory *directory) {
        _cleanup_(inbound_freep) Inbound *in = NULL;
        int r;

        assert(ret);
        in = calloc(1, sizeof *in);
        if (!in)
                return -ENOMEM;
        in->event = sd_event_ref(event);
        in->keyring = keyring;
        in->directory = directory;
        r = redis_target_copy(&in->target, target);
        if (r < 0)
                return r;
        r = delivery_new(&in->delivery, event, on_delivered, in);
        if (r < 0)
                return r;
        delivery_set_bus(in->delivery, bus);
        delivery_set_bridge(in->delivery, false); /* to this host's workers only */
        *ret = TAKE_PTR(in);
        return 0;
}

Inbound *inbound_free(Inbound *in) {
        if (!in)
                return NULL;
        in->freeing = true;
        for (size_t k = 0; k < in->n_inboxes; k++)
                inbox_free(in->inboxes[k]);
        free(in->inboxes);
        delivery_free(in->delivery);
        redis_target_done(&in->target);
        sd_event_unref(in->event);
        free(in);
        return NULL;
}

InboundStats inbound_stats(const Inbound *in, const char *component) {
        InboundStats s = {};

        for (size_t k = 0; k < in->n_inboxes; k++) {
                const Inbox *ib = in->inboxes[k];
                if (component && !streq(ib->component, component))
                        continue;
                s.delivered += ib->stats.delivered;
                s.dead += ib->stats.dead;
                s.waiting += ib->stats.waiting;
        }
        return s;
}
