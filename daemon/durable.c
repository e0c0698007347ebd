/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Durability in the daemon (see durable.h). A record holds the images of
 * the instances a step touched (each with the history entries the step
 * appended), the ids it dropped, and what the other modules add (record.h);
 * recovery restores the snapshot's images and members, then each record's,
 * in order. Timer deadlines are boottime: a record carries the boot id, and
 * after a reboot the realtime deadlines are used instead (overdue timers
 * fire at once).
 *
 * Nothing of an event leaves before its record is durable: under sync the
 * record is synced in the step handler, under batch replies and signals wait
 * in a queue for one fdatasync (group commit), under none the record is
 * written and not synced. The batch is closed when the event loop goes
 * idle, so pipelined calls share one fdatasync. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <json-c/json.h>

#include "durable.h"
#include "hwm.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "outbox.h"
#include "record.h"
#include "reload.h"
#include "work.h"

typedef struct EventId {
        char *id;
        char *state;
} EventId;

/* What durability keeps for one hosted component. */
typedef struct Store {
        Journal *journal; /* NULL: no state directory */
        char incarnation[INCARNATION_LEN + 1];
        uint64_t route_seq; /* routed-event sequence without a journal */
        EventId *ids;       /* the SendEx event-id window, a ring */
        unsigned ids_next, ids_n;
        uint64_t snapshot_usec; /* CLOCK_MONOTONIC: the last snapshot, or the journal's opening */
} Store;

struct Durable {
        Manager *manager;
        bool enabled;
        JournalPolicy policy;
        char *state_dir;
        char boot_id[64];
        Store *stores; /* one per host, by index */
        size_t n_stores;
        uint64_t work_seq; /* work ids without a journal */

        /* replies and emissions waiting for the sync */
        sd_bus_message **outq;
        char **outq_emit;
        size_t outq_n, outq_cap;
        size_t outq_replies; /* of them, answers to calls */
        bool unsynced;
        sd_event_source *flush;
};

static uint64_t durable_now(Durable *d) {
        uint64_t now = 0;

        (void) sd_event_now(d->manager->event, CLOCK_MONOTONIC, &now);
        return now;
}

static void read_boot_id(char buf[64]) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

        buf[0] = 0;
        if (f && !fgets(buf, 64, f))
                buf[0] = 0;
        buf[strcspn(buf, "\n")] = 0;
}

int durable_new(Durable **ret, Manager *m) {
        Durable *d;

        assert(ret);
        assert(m);
        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->manager = m;
        d->policy = JOURNAL_NONE;
        read_boot_id(d->boot_id);
        *ret = d;
        return 0;
}

static void store_done(Store *s) {
        s->journal = journal_close(s->journal);
        for (unsigned k = 0; s->ids && k < EVENT_ID_WINDOW; k++) {
                free(s->ids[k].id);
                free(s->ids[k].state);
        }
        s->ids = mfree(s->ids);
}

Durable *durable_free(Durable *d) {
        if (!d)
                return NULL;
        for (size_t k = 0; k < d->n_stores; k++)
                store_done(&d->stores[k]);
        free(d->stores);
        for (size_t k = 0; k < d->outq_n; k++) {
                sd_bus_message_unref(d->outq[k]);
                free(d->outq_emit[k]);
        }
        free(d->outq);
        free(d->outq_emit);
        sd_event_source_disable_unref(d->flush);
        free(d->state_dir);
        free(d);
        return NULL;
}

bool durable_enabled(const Durable *d) {
        return d->enabled;
}

const char *durable_state_dir(const Durable *d) {
        return d->state_dir;
}

static Store *store_of(Durable *d, Host *h) {
        size_t k = (size_t) (h - d->manager->hosts);

        assert(k < d->manager->n_hosts);
        if (k >= d->n_stores) {
                Store *v = reallocarray(d->stores, d->manager->n_hosts, sizeof *v);
                if (!v)
                        return NULL;
                memset(v + d->n_stores, 0, (d->manager->n_hosts - d->n_stores) * sizeof *v);
                d->stores = v;
                d->n_stores = d->manager->n_hosts;
        }
        return &d->stores[k];
}

static Journal *journal_of(Durable *d, Host *h) {
        Store *s = d->enabled ? store_of(d, h) : NULL;

        return s ? s->journal : NULL;
}

/* ---- incarnations -------------------------------------------------------- */

static int new_incarnation(char ret[INCARNATION_LEN + 1]) {
        uint8_t bytes[INCARNATION_LEN / 2];

        if (getrandom(bytes, sizeof bytes, 0) != (ssize_t) sizeof bytes)
                return -errno ?: -EIO;
        for (size_t k = 0; k < sizeof bytes; k++)
                snprintf(ret + 2 * k, 3, "%02x", bytes[k]);
        return 0;
}

static bool incarnation_valid(const char *s) {
        return strlen(s) == INCARNATION_LEN && strspn(s, "0123456789abcdef") == INCARNATION_LEN;
}

/* The incarnation kept in dir (made, durably, when there is none: a new
 * state directory is a new incarnation). */
static int load_incarnation(const char *dir, char ret[INCARNATION_LEN + 1]) {
        _cleanup_(freep) char *path = NULL, *tmp = NULL;
        char buf[INCARNATION_LEN + 2] = "";
        int fd, r;

        if (asprintf(&path, "%s/incarnation", dir) < 0 || asprintf(&tmp, "%s/incarnation.tmp", dir) < 0)
                return -ENOMEM;
        {
                _cleanup_(fclosep) FILE *f = fopen(path, "re");
                if (f && fgets(buf, sizeof buf, f)) {
                        buf[strcspn(buf, "\n")] = 0;
                        if (incarnation_valid(buf)) {
                                memcpy(ret, buf, INCARNATION_LEN + 1);
                                return 0;
                        }
                        log_warning("%s is not an incarnation id: making a new one", path);
                }
        }
        r = new_incarnation(buf);
        if (r < 0)
                return r;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0)
                return -errno;
        r = dprintf(fd, "%s\n", buf) < 0 || fsync(fd) < 0 ? -errno : 0;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r == 0) {
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0) {
                        (void) fsync(dfd);
                        close(dfd);
                }
        }
        if (r < 0)
                return r;
        memcpy(ret, buf, INCARNATION_LEN + 1);
        return 0;
}

const char *durable_incarnation(Durable *d, Host *h) {
        Store *s = store_of(d, h);

        if (!s)
                return "";
        if (!s->incarnation[0] && new_incarnation(s->incarnation) < 0)
                return "";
        return s->incarnation;
}

/* ---- event ids ---------------------------------------------------------- */

const char *durable_event_result(Durable *d, Host *h, const char *event_id) {
        Store *s = store_of(d, h);

        for (unsigned k = 0; s && s->ids && k < s->ids_n; k++)
                if (streq(s->ids[k].id, event_id))
                        return s->ids[k].state;
        return NULL;
}

void durable_event_remember(Durable *d, Host *h, const char *event_id, const char *state) {
        Store *s = store_of(d, h);
        EventId *e;

        if (!s)
                return;
        if (!s->ids) {
                s->ids = calloc(EVENT_ID_WINDOW, sizeof *s->ids);
                if (!s->ids)
                        return;
        }
        e = &s->ids[s->ids_next];
        free(e->id);
        free(e->state);
        e->id = strdup(event_id);
        e->state = strdup(state);
        s->ids_next = (s->ids_next + 1) % EVENT_ID_WINDOW;
        if (s->ids_n < EVENT_ID_WINDOW)
                s->ids_n++;
}

static void write_event_id(FILE *f, const char *id, const char *state) {
        fputs("{\"id\":", f);
        json_write_string(f, id);
        fputs(",\"state\":", f);
        json_write_string(f, state);
        fputc('}', f);
}

static void write_event_ids(Store *s, FILE *f) {
        fputc('[', f);
        for (unsigned k = 0; s->ids && k < s->ids_n; k++) {
                const EventId *e = &s->ids[(s->ids_next + EVENT_ID_WINDOW - s->ids_n + k) % EVENT_ID_WINDOW];
                if (k > 0)
                        fputc(',', f);
                write_event_id(f, e->id, e->state);
        }
        fputc(']', f);
}

/* ---- recovery ------------------------------------------------------------ */

typedef struct Recovery {
        Durable *d;
        Host *h;
} Recovery;

static int read_event_id(Recovery *rc, json_object *e) {
        const char *id = json_get_string(e, "id"), *state = json_get_string(e, "state");

        if (id && state)
                durable_event_remember(rc->d, rc->h, id, state);
        return 0;
}

static int read_event_ids(void *userdata, json_object *v) {
        for (size_t k = 0; json_object_is_type(v, json_type_array) && k < json_object_array_length(v); k++)
                (void) read_event_id(userdata, json_object_array_get_idx(v, k));
        return 0;
}

static int read_event_id_member(void *userdata, json_object *v) {
        return read_event_id(userdata, v);
}

static int read_outbox(void *userdata, json_object *v) {
        Recovery *rc = userdata;
        return outbox_read_entries(rc->d->manager->outbox, v);
}

static int read_acked(void *userdata, json_object *v) {
        Recovery *rc = userdata;
        return outbox_read_acks(rc->d->manager->outbox, v);
}

static int read_hwm(void *userdata, json_object *v) {
        Recovery *rc = userdata;
        return hwm_read(rc->d->manager->hwm, rc->h->name, v);
}

static int read_work(void *userdata, json_object *v) {
        Recovery *rc = userdata;
        return work_read(rc->d->manager, rc->h, v);
}

static int read_work_done(void *userdata, json_object *v) {
        Recovery *rc = userdata;
        return work_read_done(rc->d->manager, v);
}

/* Who reads which member of a record or a snapshot, in the order they
 * apply (entries before their acknowledgements). */
static const RecordReader readers[] = {
        { "eventIds", read_event_ids },
        { "eventId", read_event_id_member },
        { "outbox", read_outbox },
        { "acked", read_acked },
        { "work", read_work },
        { "workDone", read_work_done },
        { "hwm", read_hwm },
};

static int on_snapshot(void *userdata, uint64_t seq, uint32_t meta, const char *body, size_t len) {
        Recovery *rc = userdata;
        xfsm_engine *e = rc->d->manager->engine;
        const char *members;
        size_t images_len, members_len;
        int r;

        r = snapshot_split(meta, body, len, &images_len, &members, &members_len);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "%s: the snapshot is of format %u, written by a newer xfsm: refusing to "
                                       "read it",
                                       rc->h->name, meta & RECORD_FORMAT_MASK);
        if (r < 0)
                return log_error_errno(r, "%s: the snapshot (up to record %llu) is not in a known form", rc->h->name,
                                       (unsigned long long) seq);
        /* staged: the tail's images supersede theirs, each parsed once (durable_open finishes) */
        r = xfsm_engine_stage_images(e, body, images_len, rc->d->boot_id);
        if (r < 0)
                return log_error_errno(-EBADMSG, "%s: the snapshot (up to record %llu) could not be applied: %s",
                                       rc->h->name, (unsigned long long) seq, xfsm_engine_last_error(e));
        if (members) {
                r = record_dispatch(meta, members, members_len, readers, ELEMENTSOF(readers), rc);
                if (r < 0)
                        return log_error_errno(r, "%s: the snapshot's outbox, work or marks could not be read: %m",
                                               rc->h->name);
        }
        return 0;
}

static int on_record(void *userdata, uint64_t seq, uint32_t meta, const char *body, size_t len) {
        Recovery *rc = userdata;
        xfsm_engine *e = rc->d->manager->engine;
        int r;

        r = record_check_format(meta);
        if (r < 0)
                return log_error_errno(r, "%s: record %llu is of format %u, written by a newer xfsm: refusing to "
                                       "read it",
                                       rc->h->name, (unsigned long long) seq, meta & RECORD_FORMAT_MASK);
        r = xfsm_engine_restore_record(e, body, len, rc->d->boot_id, NULL);
        if (r < 0)
                return log_error_errno(-EBADMSG, "%s: record %llu could not be applied: %s", rc->h->name,
                                       (unsigned long long) seq, xfsm_engine_last_error(e));
        r = record_dispatch(meta, body, len, readers, ELEMENTSOF(readers), rc);
        if (r < 0)
                return log_error_errno(r, "%s: record %llu could not be applied: %m", rc->h->name,
                                       (unsigned long long) seq);
        return 0;
}

int durable_open(Durable *d, const char *state_dir, JournalPolicy policy) {
        Manager *m = d->manager;
        int r;

        assert(state_dir);
        d->enabled = true;
        d->policy = policy;
        d->state_dir = strdup(state_dir);
        if (!d->state_dir)
                return -ENOMEM;
        reload_setup(m); /* images of instances created with an older definition */
        for (size_t k = 0; k < m->n_hosts; k++) {
                Host *h = &m->hosts[k];
                Store *s = store_of(d, h);
                Recovery rc = { .d = d, .h = h };
                _cleanup_(freep) char *dir = NULL;
                JournalReport rep;

                if (!s || asprintf(&dir, "%s/%s", state_dir, h->stem) < 0)
                        return log_oom();
                r = journal_open(dir, &s->journal);
                if (r == -EBUSY)
                        return log_error_errno(r, "%s is locked: another process hosts %s", dir, h->name);
                if (r < 0)
                        return log_error_errno(r, "Failed to open %s: %m", dir);
                s->snapshot_usec = durable_now(d);
                /* a source that lost its state must never have its new routed events taken for old ones */
                if (policy == JOURNAL_NONE)
                        r = new_incarnation(s->incarnation);
                else
                        r = load_incarnation(dir, s->incarnation);
                if (r < 0)
                        return log_error_errno(r, "%s: failed to set up the incarnation: %m", h->name);
                /* the definition new instances get, kept for when it is not the current one any more */
                (void) reload_keep_file(m, h);
                r = journal_recover(s->journal, on_snapshot, on_record, &rc, &rep);
                if (r < 0)
                        return log_error_errno(r, "Failed to recover %s from %s: %m", h->name, dir);
                r = xfsm_engine_restore_finish(m->engine, NULL);
                if (r < 0)
                        return log_error_errno(-EBADMSG, "%s: the snapshot could not be applied: %s", h->name,
                                               xfsm_engine_last_error(m->engine));
                if (rep.torn_tail)
                        log_warning("%s: the last journal record was torn (a crash while writing it): truncated",
                                    h->name);
                if (rep.corrupt)
                        log_error("%s: a corrupt journal record at offset %llu: recovery stopped there; the journal "
                                  "was kept aside as %s",
                                  h->name, (unsigned long long) rep.corrupt_offset, rep.kept_aside);
                log_info("%s: recovered from %s (snapshot %llu, %llu records after it, policy %s, incarnation %s)",
                         h->name, dir, (unsigned long long) rep.snapshot_seq, (unsigned long long) rep.records,
                         journal_policy_to_string(policy), s->incarnation);
        }
        return 0;
}

/* ---- snapshots --------------------------------------------------------------- */

typedef struct SnapCtx {
        FILE *f;
} SnapCtx;

static int snap_one(void *userdata, xfsm_instance *i) {
        SnapCtx *c = userdata;
        _cleanup_(freep) char *image = xfsm_instance_to_json(i);

        if (!image)
                return -ENOMEM;
        fputs(image, c->f); /* one image per line: recovery parses them one by one */
        fputc('\n', c->f);
        return 0;
}

static int snapshot(Durable *d, Host *h) {
        Manager *m = d->manager;
        Store *s = store_of(d, h);
        RecordBuf rb;
        FILE *f;
        int r;

        r = snapshot_open(&rb, d->boot_id);
        if (r < 0)
                return log_oom();
        r = xfsm_engine_foreach(m->engine, h->name, NULL, NULL, snap_one, &(SnapCtx) { rb.f });
        if (r >= 0)
                r = snapshot_members(&rb, d->boot_id);
        if (r >= 0) {
                write_event_ids(s, record_member(&rb, "eventIds"));
                outbox_write_all(m->outbox, h->name, record_member(&rb, "outbox"));
                f = record_member(&rb, "work");
                fputc('[', f);
                work_write(m, h, f);
                fputc(']', f);
                hwm_write_all(m->hwm, h->name, record_member(&rb, "hwm"));
                r = record_close(&rb);
        }
        if (r >= 0)
                r = journal_snapshot(s->journal, rb.meta, rb.buf, rb.len);
        record_done(&rb);
        if (r < 0)
                return log_error_errno(r, "%s: failed to write a snapshot: %m", h->name);
        s->snapshot_usec = durable_now(d);
        return 0;
}

/* By size or by time (durable.h), never for nothing. */
static void snapshot_if_due(Durable *d, Host *h) {
        Store *s = store_of(d, h);
        Journal *j = s->journal;
        uint64_t bytes;

        if (!j || journal_records_since_snapshot(j) == 0)
                return;
        bytes = journal_bytes_since_snapshot(j);
        if ((bytes >= SNAPSHOT_MIN_BYTES && bytes >= journal_snapshot_bytes(j)) ||
            durable_now(d) - s->snapshot_usec >= SNAPSHOT_MAX_AGE_USEC)
                (void) snapshot(d, h);
}

void durable_snapshot_all(Durable *d) {
        for (size_t k = 0; d->enabled && k < d->manager->n_hosts; k++) {
                Journal *j = journal_of(d, &d->manager->hosts[k]);
                if (j && journal_records_since_snapshot(j) > 0)
                        (void) snapshot(d, &d->manager->hosts[k]);
        }
}

/* ---- the outbound queue and group commit ------------------------------------------------ */

static void stop_on_failure(Durable *d, int r, const char *what) {
        /* fail-stop: what is on disk is the truth; a restart recovers it */
        log_error_errno(r, "Failed to %s the journal: %m; stopping", what);
        (void) sd_event_exit(d->manager->event, EXIT_FAILURE);
}

static int flush(Durable *d) {
        Manager *m = d->manager;
        int r = 0;

        if (d->unsynced) {
                for (size_t k = 0; k < m->n_hosts && r >= 0; k++) {
                        Journal *j = journal_of(d, &m->hosts[k]);
                        if (j)
                                r = journal_sync(j);
                }
                if (r < 0) {
                        stop_on_failure(d, r, "sync");
                        return r;
                }
                d->unsynced = false;
                outbox_durable(m->outbox);
                work_durable(m);
                for (size_t k = 0; k < m->n_hosts; k++)
                        snapshot_if_due(d, &m->hosts[k]);
        }
        for (size_t k = 0; k < d->outq_n; k++) {
                if (d->outq[k])
                        (void) sd_bus_send(NULL, d->outq[k], NULL);
                else {
                        const char *path = d->outq_emit[k] + 1;
                        assert(d->outq_emit[k][0] == 'A');
                        (void) sd_bus_emit_object_added(m->bus, path);
                }
                sd_bus_message_unref(d->outq[k]);
                free(d->outq_emit[k]);
        }
        d->outq_n = d->outq_replies = 0;
        return 0;
}

int durable_flush(Durable *d) {
        return d->enabled ? flush(d) : 0;
}

static int on_flush(sd_event_source *s, void *userdata) {
        return flush(userdata);
}

/* Group commit: the sync runs once the loop has nothing else to do, that is
 * after every message already waiting on the bus has been handled (their
 * records join this sync). */
static int arm_flush(Durable *d) {
        int r;

        if (!d->flush) {
                r = sd_event_add_defer(d->manager->event, &d->flush, on_flush, d);
                if (r < 0)
                        return r;
                r = sd_event_source_set_priority(d->flush, SD_EVENT_PRIORITY_IDLE);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(d->flush, "journal-group-commit");
        }
        return sd_event_source_set_enabled(d->flush, SD_EVENT_ONESHOT);
}

bool durable_deferring(const Durable *d) {
        return d->enabled && d->policy == JOURNAL_BATCH && (d->unsynced || d->outq_n > 0);
}

bool durable_busy(const Durable *d) {
        return d->unsynced || d->outq_n > 0;
}

static int queue_push(Durable *d, sd_bus_message *msg, char *emit) {
        if (d->outq_n == d->outq_cap) {
                size_t cap = d->outq_cap ? d->outq_cap * 2 : 64;
                sd_bus_message **v = reallocarray(d->outq, cap, sizeof *v);
                char **e = v ? reallocarray(d->outq_emit, cap, sizeof *e) : NULL;
                if (v)
                        d->outq = v;
                if (!v || !e) {
                        sd_bus_message_unref(msg);
                        free(emit);
                        return -ENOMEM;
                }
                d->outq_emit = e;
                d->outq_cap = cap;
        }
        d->outq[d->outq_n] = msg;
        d->outq_emit[d->outq_n] = emit;
        d->outq_n++;
        return arm_flush(d);
}

int durable_queue(Durable *d, sd_bus_message *msg) {
        uint8_t type = 0;
        int r = queue_push(d, sd_bus_message_ref(msg), NULL);

        if (r >= 0 && sd_bus_message_get_type(msg, &type) >= 0 && type != SD_BUS_MESSAGE_SIGNAL)
                d->outq_replies++;
        return r;
}

size_t durable_waiting(const Durable *d) {
        return d->outq_replies;
}

int durable_queue_emit(Durable *d, char kind, const char *path) {
        char *e = malloc(strlen(path) + 2);

        if (!e)
                return -ENOMEM;
        e[0] = kind;
        strcpy(e + 1, path);
        return queue_push(d, NULL, e);
}

/* ---- records ----------------------------------------------------------------------- */

/* The record is written: make it durable as the policy says. */
static int after_append(Durable *d, Journal *j) {
        int r;

        switch (d->policy) {
        case JOURNAL_SYNC:
                r = journal_sync(j);
                if (r < 0) {
                        stop_on_failure(d, r, "sync");
                        return r;
                }
                return 0;
        case JOURNAL_BATCH:
                d->unsynced = true;
                return arm_flush(d);
        case JOURNAL_NONE:
                return 0;
        }
        return 0;
}

/* Close rb and append it to j; the write failing stops the daemon (what is
 * on disk is the truth). */
static int append_record(Durable *d, Journal *j, RecordBuf *rb) {
        int r = record_close(rb);

        if (r >= 0)
                r = journal_append(j, rb->meta, rb->buf, rb->len, NULL);
        record_done(rb);
        if (r < 0)
                stop_on_failure(d, r, "write");
        return r;
}

/* A record with one member, written by fn. */
static int append_member(Durable *d, Host *h, const char *key, void (*fn)(FILE *f, const void *arg), const void *arg,
                         bool sync) {
        Journal *j = h ? journal_of(d, h) : NULL;
        RecordBuf rb;
        int r;

        if (!j)
                return 0;
        r = record_open(&rb, d->boot_id);
        if (r < 0)
                return log_oom();
        fn(record_member(&rb, key), arg);
        r = append_record(d, j, &rb);
        if (r < 0)
                return r;
        return sync ? after_append(d, j) : 0;
}

static void write_ack_list(FILE *f, const void *arg) {
        fputc('[', f);
        outbox_write_ack(f, arg);
        fputc(']', f);
}

void durable_acked(Durable *d, const OutEntry *e) {
        (void) append_member(d, manager_find_host(d->manager, e->source), "acked", write_ack_list, e, false);
}

static void write_string_member(FILE *f, const void *arg) {
        json_write_string(f, arg);
}

void durable_work_done(Durable *d, Host *h, const char *id) {
        (void) append_member(d, h, "workDone", write_string_member, id, true);
}

static void write_hwm_member(FILE *f, const void *arg) {
        hwm_write_one(f, arg);
}

void durable_hwm(Durable *d, Host *h, const RouteId *id) {
        (void) append_member(d, h, "hwm", write_hwm_member, id, true);
}

static bool is_work(const xfsm_effect *e) {
        return xfsm_effect_get_kind(e) == XFSM_EFFECT_EXEC || xfsm_effect_get_kind(e) == XFSM_EFFECT_UNIT;
}

/* A routed effect for a component of another process (those of this
 * process were delivered by the engine). */
static const xfsm_routed *routed_out(Manager *m, const xfsm_effect *e) {
        const xfsm_routed *rt = xfsm_effect_routed(e);

        if (xfsm_effect_get_kind(e) != XFSM_EFFECT_ROUTED || manager_find_host(m, xfsm_routed_target_component(rt)))
                return NULL;
        return rt;
}

/* Into the outbox and the work list: what a step made, under the ids of its record (seq). */
static void take_out(Durable *d, Host *h, const xfsm_step *s, uint64_t seq, bool durable) {
        Manager *m = d->manager;
        const char *incarnation = durable_incarnation(d, h);
        bool journal = journal_of(d, h) != NULL;

        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                const xfsm_routed *rt = routed_out(m, e);
                char id[48];

                if (rt) {
                        RouteId rid = { h->name, incarnation, journal ? seq : ++store_of(d, h)->route_seq,
                                        xfsm_routed_rule_index(rt) };
                        _cleanup_(freep) char *json = xfsm_routed_to_wire(rt, incarnation, rid.seq);
                        if (!json || outbox_add(m->outbox, xfsm_routed_target_component(rt), &rid, json, durable) < 0)
                                log_error("%s: a routed event for %s could not be queued: out of memory", h->name,
                                          xfsm_routed_target_component(rt));
                }
                if (is_work(e)) {
                        if (journal)
                                snprintf(id, sizeof id, "%llu.%zu", (unsigned long long) seq, k);
                        else
                                snprintf(id, sizeof id, "%llu", (unsigned long long) ++d->work_seq);
                        (void) work_add(m, h, id, e);
                }
        }
}

static void write_images(Durable *d, const xfsm_step *s, FILE *f) {
        const char *seen[256];
        size_t n_seen = 0;
        bool first = true;

        fputc('[', f);
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                const char *id = xfsm_effect_instance_id(e);
                _cleanup_(freep) char *image = NULL;
                xfsm_instance *i;
                bool dup = false;

                if (!id || xfsm_effect_get_kind(e) == XFSM_EFFECT_DROPPED)
                        continue;
                for (size_t j = 0; j < n_seen && !dup; j++)
                        dup = streq(seen[j], id);
                if (dup)
                        continue;
                if (n_seen < ELEMENTSOF(seen))
                        seen[n_seen++] = id;
                i = xfsm_engine_find(d->manager->engine, id);
                if (!i || !(image = xfsm_step_instance_json(s, i)))
                        continue;
                if (!first)
                        fputc(',', f);
                fputs(image, f);
                first = false;
        }
        fputc(']', f);
}

static void write_dropped(const xfsm_step *s, FILE *f) {
        bool first = true;

        fputc('[', f);
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                if (xfsm_effect_get_kind(e) != XFSM_EFFECT_DROPPED)
                        continue;
                if (!first)
                        fputc(',', f);
                json_write_string(f, xfsm_effect_instance_id(e));
                first = false;
        }
        fputc(']', f);
}

int durable_record(Durable *d, Host *h, const xfsm_step *s, StepOrigin *origin) {
        Manager *m = d->manager;
        Journal *j = journal_of(d, h);
        const char *incarnation = durable_incarnation(d, h);
        uint64_t seq;
        bool first;
        RecordBuf rb;
        FILE *f;
        int r;

        assert(origin);
        if (!j) {
                /* without a journal the outbox lives in memory, and work starts at once */
                take_out(d, h, s, 0, true);
                origin->recorded = true;
                work_durable(m);
                return 0;
        }

        seq = journal_last_seq(j) + 1; /* this record's: the routed events' and the work's ids */
        r = record_open(&rb, d->boot_id);
        if (r < 0)
                return log_oom();
        write_images(d, s, record_member(&rb, "instances"));
        write_dropped(s, record_member(&rb, "dropped"));
        if (origin->event_id && xfsm_step_instance_id(s)) {
                xfsm_instance *i = xfsm_engine_find(m->engine, xfsm_step_instance_id(s));
                write_event_id(record_member(&rb, "eventId"), origin->event_id, i ? xfsm_instance_state(i) : "");
        }
        first = true;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_routed *rt = routed_out(m, xfsm_step_effect(s, k));
                RouteId rid = { h->name, incarnation, seq, rt ? xfsm_routed_rule_index(rt) : 0 };
                _cleanup_(freep) char *json = NULL;

                if (!rt)
                        continue;
                json = xfsm_routed_to_wire(rt, incarnation, seq);
                if (!json) {
                        record_done(&rb);
                        return log_oom();
                }
                f = first ? record_member(&rb, "outbox") : rb.f;
                fputc(first ? '[' : ',', f);
                outbox_write_entry(f, xfsm_routed_target_component(rt), &rid, json);
                first = false;
        }
        if (!first)
                fputc(']', rb.f);
        first = true;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                char id[48];

                if (!is_work(e))
                        continue;
                snprintf(id, sizeof id, "%llu.%zu", (unsigned long long) seq, k);
                f = first ? record_member(&rb, "work") : rb.f;
                fputc(first ? '[' : ',', f);
                work_write_effect(f, id, e);
                first = false;
        }
        if (!first)
                fputc(']', rb.f);
        if (origin->work_done)
                json_write_string(record_member(&rb, "workDone"), origin->work_done);
        if (origin->delivery)
                hwm_write_one(record_member(&rb, "hwm"), origin->delivery);
        r = append_record(d, j, &rb);
        if (r < 0)
                return r;
        origin->recorded = true;
        r = after_append(d, j);
        if (r < 0)
                return r;

        /* under batch they wait for the group commit (flush); otherwise synced now, or never to be */
        take_out(d, h, s, seq, d->policy != JOURNAL_BATCH);
        if (d->policy != JOURNAL_BATCH) {
                work_durable(m);
                snapshot_if_due(d, h);
        }
        return 0;
}
