/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Durability in the daemon. A record holds the images of the instances a
 * step touched (the engine's xfsm_instance_to_json()), the ids it dropped,
 * and the SendEx event id it answered; recovery restores the snapshot's
 * images and then each record's, in order. Timer deadlines are boottime: a
 * record carries the boot id, and after a reboot the realtime deadlines are
 * used instead (overdue timers fire at once).
 *
 * Nothing of an event leaves before its record is durable: under sync the
 * record is synced in the step handler, under batch replies and signals wait
 * in a queue for one fdatasync (group commit), under
 * none the record is written and not synced. The batch is closed when the
 * event loop goes idle, so pipelined calls share one fdatasync. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "durable.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "outbox.h"
#include "reload.h"
#include "work.h"

struct EventId {
        char *id;
        char *state;
};

static void read_boot_id(char buf[64]) {
        FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
        buf[0] = 0;
        if (f) {
                if (!fgets(buf, 64, f))
                        buf[0] = 0;
                fclose(f);
        }
        buf[strcspn(buf, "\n")] = 0;
}

static int arm_flush(Manager *m);

/* ---- event ids ---------------------------------------------------------- */

const char *durable_event_result(Manager *m, Host *h, const char *event_id) {
        (void) m;
        for (unsigned k = 0; h->ids && k < h->ids_n; k++)
                if (streq(h->ids[k].id, event_id))
                        return h->ids[k].state;
        return NULL;
}

void durable_event_remember(Manager *m, Host *h, const char *event_id, const char *state) {
        struct EventId *e;
        (void) m;
        if (!h->ids) {
                h->ids = calloc(EVENT_ID_WINDOW, sizeof *h->ids);
                if (!h->ids)
                        return;
        }
        e = &h->ids[h->ids_next];
        free(e->id);
        free(e->state);
        e->id = strdup(event_id);
        e->state = strdup(state);
        h->ids_next = (h->ids_next + 1) % EVENT_ID_WINDOW;
        if (h->ids_n < EVENT_ID_WINDOW)
                h->ids_n++;
}

/* ---- recovery ------------------------------------------------------------ */

typedef struct Recovery {
        Manager *m;
        Host *h;
        bool same_boot;
} Recovery;

static const char *jstr(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static uint64_t juint(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

/* What a record carries beside the images: event ids, outbox entries and
 * their acknowledgements, high-water marks (rare: parsed only then). */
static void apply_extras(Recovery *rc, const char *body, size_t len) {
        json_tokener *tok;
        json_object *o, *v, *list;

        if (!memmem(body, len, "\"eventId", 8) && !memmem(body, len, "\"outbox\"", 8) &&
            !memmem(body, len, "\"acked\"", 7) && !memmem(body, len, "\"hwm\"", 5) &&
            !memmem(body, len, "\"work", 5))
                return;
        tok = json_tokener_new();
        if (!tok)
                return;
        o = json_tokener_parse_ex(tok, body, (int) len);
        json_tokener_free(tok);
        if (!o)
                return;
        if (json_object_object_get_ex(o, "eventIds", &list))
                for (size_t k = 0; k < json_object_array_length(list); k++) {
                        json_object *e = json_object_array_get_idx(list, k);
                        if (jstr(e, "id") && jstr(e, "state"))
                                durable_event_remember(rc->m, rc->h, jstr(e, "id"), jstr(e, "state"));
                }
        if (json_object_object_get_ex(o, "eventId", &v) && jstr(v, "id") && jstr(v, "state"))
                durable_event_remember(rc->m, rc->h, jstr(v, "id"), jstr(v, "state"));
        if (json_object_object_get_ex(o, "outbox", &list))
                for (size_t k = 0; k < json_object_array_length(list); k++) {
                        json_object *e = json_object_array_get_idx(list, k), *ev;
                        if (jstr(e, "target") && jstr(e, "source") && json_object_object_get_ex(e, "event", &ev))
                                (void) outbox_restore(rc->m, jstr(e, "target"), jstr(e, "source"), juint(e, "seq"),
                                                      (unsigned) juint(e, "rule"),
                                                      json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
                }
        if (json_object_object_get_ex(o, "work", &list))
                for (size_t k = 0; k < json_object_array_length(list); k++) {
                        json_object *e = json_object_array_get_idx(list, k);
                        if (jstr(e, "id") && jstr(e, "instance") && jstr(e, "kind") && jstr(e, "what"))
                                (void) work_restore(rc->m, rc->h, jstr(e, "id"), jstr(e, "instance"), jstr(e, "kind"),
                                                    jstr(e, "what"));
                }
        if (json_object_object_get_ex(o, "workDone", &v) && json_object_is_type(v, json_type_string))
                work_restore_done(rc->m, json_object_get_string(v));
        if (json_object_object_get_ex(o, "acked", &list))
                for (size_t k = 0; k < json_object_array_length(list); k++) {
                        json_object *e = json_object_array_get_idx(list, k);
                        if (jstr(e, "target") && jstr(e, "source"))
                                outbox_acked(rc->m, jstr(e, "target"), jstr(e, "source"), juint(e, "seq"),
                                             (unsigned) juint(e, "rule"));
                }
        if (json_object_object_get_ex(o, "hwm", &list)) {
                if (json_object_is_type(list, json_type_object)) /* one, from a Deliver */
                        hwm_set(rc->m, rc->h->name, jstr(list, "source") ?: "", juint(list, "seq"),
                                (unsigned) juint(list, "rule"));
                else
                        for (size_t k = 0; k < json_object_array_length(list); k++) {
                                json_object *e = json_object_array_get_idx(list, k);
                                if (jstr(e, "component") && jstr(e, "source"))
                                        hwm_set(rc->m, jstr(e, "component"), jstr(e, "source"), juint(e, "seq"),
                                                (unsigned) juint(e, "rule"));
                        }
        }
        json_object_put(o);
}

static int on_snapshot(void *userdata, uint64_t seq, const char *body, size_t len) {
        Recovery *rc = userdata;
        /* staged: the tail's images supersede theirs, each parsed once (durable_open finishes) */
        int r = xfsm_engine_stage_images(rc->m->engine, body, len, rc->m->boot_id);
        if (r < 0)
                return log_error_errno(-EBADMSG, "%s: the snapshot (up to record %llu) could not be applied: %s",
                                       rc->h->name, (unsigned long long) seq, xfsm_engine_last_error(rc->m->engine));
        return 0;
}

static int on_body(void *userdata, uint64_t seq, const char *body, size_t len) {
        Recovery *rc = userdata;
        int r = xfsm_engine_restore_record(rc->m->engine, body, len, rc->m->boot_id, NULL);
        if (r < 0)
                return log_error_errno(-EBADMSG, "%s: record %llu could not be applied: %s", rc->h->name,
                                       (unsigned long long) seq, xfsm_engine_last_error(rc->m->engine));
        apply_extras(rc, body, len);
        return 0;
}

int durable_open(Manager *m, const char *state_dir, JournalPolicy policy) {
        char dir[4096];
        int r;

        m->durable = true;
        m->policy = (int) policy;
        m->state_dir = strdup(state_dir);
        if (!m->state_dir)
                return -ENOMEM;
        read_boot_id(m->boot_id);
        reload_setup(m); /* images of instances created with an older definition */
        for (size_t k = 0; k < m->n_hosts; k++) {
                Host *h = &m->hosts[k];
                Recovery rc = { .m = m, .h = h };
                JournalReport rep;

                snprintf(dir, sizeof dir, "%s/%s", state_dir, h->stem);
                r = journal_open(dir, &h->journal);
                if (r == -EBUSY)
                        return log_error_errno(r, "%s is locked: another process hosts %s", dir, h->name);
                if (r < 0)
                        return log_error_errno(r, "Failed to open %s: %m", dir);
                /* the definition new instances get, kept for when it is not the current one any more */
                (void) reload_keep_file(m, h);
                r = journal_recover(h->journal, on_snapshot, on_body, &rc, &rep);
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
                log_info("%s: recovered from %s (snapshot %llu, %llu records after it, policy %s)", h->name, dir,
                         (unsigned long long) rep.snapshot_seq, (unsigned long long) rep.records,
                         journal_policy_to_string(policy));
        }
        return 0;
}

void durable_acked(Manager *m, const char *target, const char *source, uint64_t seq, unsigned rule) {
        Host *h = manager_find_host(m, source);
        char *rec = NULL;
        json_object *t;

        if (!m->durable || !h || !h->journal)
                return;
        t = json_object_new_string(target);
        if (asprintf(&rec, "{\"bootId\":\"%s\",\"instances\":[],\"dropped\":[],\"acked\":[{\"target\":%s,"
                           "\"source\":\"%s\",\"seq\":%llu,\"rule\":%u}]}",
                     m->boot_id, json_object_to_json_string(t), source, (unsigned long long) seq, rule) >= 0)
                (void) journal_append(h->journal, rec, strlen(rec), NULL);
        json_object_put(t);
        free(rec);
}

void durable_work_done(Manager *m, Host *h, const char *id) {
        char *rec = NULL;
        json_object *v;

        if (!m->durable || !h->journal)
                return;
        v = json_object_new_string(id);
        if (asprintf(&rec, "{\"bootId\":\"%s\",\"instances\":[],\"dropped\":[],\"workDone\":%s}", m->boot_id,
                     json_object_to_json_string(v)) >= 0 &&
            journal_append(h->journal, rec, strlen(rec), NULL) >= 0 && (JournalPolicy) m->policy == JOURNAL_SYNC)
                (void) journal_sync(h->journal);
        else if (rec && (JournalPolicy) m->policy == JOURNAL_BATCH) {
                m->unsynced = true;
                (void) arm_flush(m);
        }
        json_object_put(v);
        free(rec);
}

void durable_hwm(Manager *m, Host *h, const char *source, uint64_t seq, unsigned rule) {
        char *rec = NULL;
        json_object *src;

        if (!m->durable || !h->journal)
                return;
        src = json_object_new_string(source);
        if (asprintf(&rec, "{\"bootId\":\"%s\",\"instances\":[],\"dropped\":[],\"hwm\":{\"source\":%s,\"seq\":%llu,"
                           "\"rule\":%u}}",
                     m->boot_id, json_object_to_json_string(src), (unsigned long long) seq, rule) >= 0 &&
            journal_append(h->journal, rec, strlen(rec), NULL) >= 0) {
                if ((JournalPolicy) m->policy == JOURNAL_SYNC)
                        (void) journal_sync(h->journal);
                else if ((JournalPolicy) m->policy == JOURNAL_BATCH) {
                        m->unsynced = true;
                        (void) arm_flush(m);
                }
        }
        json_object_put(src);
        free(rec);
}

void durable_close(Manager *m) {
        for (size_t k = 0; k < m->n_hosts; k++) {
                Host *h = &m->hosts[k];
                h->journal = journal_close(h->journal);
                for (unsigned i = 0; h->ids && i < EVENT_ID_WINDOW; i++) {
                        free(h->ids[i].id);
                        free(h->ids[i].state);
                }
                free(h->ids);
                h->ids = NULL;
        }
        for (size_t k = 0; k < m->outq_n; k++) {
                sd_bus_message_unref(m->outq[k]);
                free(m->outq_emit[k]);
        }
        free(m->outq);
        free(m->outq_emit);
        m->outq = NULL;
        m->outq_emit = NULL;
        m->outq_n = m->outq_cap = 0;
        m->flush = sd_event_source_disable_unref(m->flush);
}

/* ---- snapshots --------------------------------------------------------------- */

typedef struct SnapCtx {
        FILE *f;
        bool first;
} SnapCtx;

static int snap_one(void *userdata, xfsm_instance *i) {
        SnapCtx *c = userdata;
        char *image = xfsm_instance_to_json(i);
        if (!image)
                return -ENOMEM;
        fputs(image, c->f); /* one image per line: recovery parses them one by one */
        fputc('\n', c->f);
        free(image);
        return 0;
}

static int snapshot(Manager *m, Host *h) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        SnapCtx c = { .f = f, .first = true };
        int r;

        if (!f)
                return -ENOMEM;
        fprintf(f, "{\"bootId\":\"%s\"}\n", m->boot_id);
        xfsm_engine_foreach(m->engine, h->name, NULL, NULL, snap_one, &c);
        fclose(f);
        r = journal_snapshot(h->journal, buf, len);
        free(buf);
        if (r < 0)
                return log_error_errno(r, "%s: failed to write a snapshot: %m", h->name);
        /* the event-id window goes in a small record of its own after it */
        buf = NULL;
        len = 0;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "{\"bootId\":\"%s\",\"instances\":[],\"dropped\":[],\"eventIds\":[", m->boot_id);
        for (unsigned k = 0; h->ids && k < h->ids_n; k++) {
                const struct EventId *e = &h->ids[(h->ids_next + EVENT_ID_WINDOW - h->ids_n + k) % EVENT_ID_WINDOW];
                json_object *id = json_object_new_string(e->id), *st = json_object_new_string(e->state);
                fprintf(f, "%s{\"id\":%s,\"state\":%s}", k ? "," : "", json_object_to_json_string(id),
                        json_object_to_json_string(st));
                json_object_put(id);
                json_object_put(st);
        }
        fputs("],\"outbox\":[", f);
        bool first = true;
        for (size_t k = 0; k < m->out_n; k++) {
                if (!streq(m->out[k].source, h->name))
                        continue;
                json_object *t = json_object_new_string(m->out[k].target);
                fprintf(f, "%s{\"target\":%s,\"source\":\"%s\",\"seq\":%llu,\"rule\":%u,\"event\":%s}",
                        first ? "" : ",", json_object_to_json_string(t), h->name, (unsigned long long) m->out[k].seq,
                        m->out[k].rule, m->out[k].json);
                json_object_put(t);
                first = false;
        }
        fputs("],\"work\":[", f);
        work_write(m, h, f);
        fputs("],\"hwm\":[", f);
        first = true;
        for (size_t k = 0; k < m->n_hwm; k++) {
                if (!streq(m->hwm[k].component, h->name))
                        continue;
                json_object *src = json_object_new_string(m->hwm[k].source);
                fprintf(f, "%s{\"component\":\"%s\",\"source\":%s,\"seq\":%llu,\"rule\":%u}", first ? "" : ",",
                        h->name, json_object_to_json_string(src), (unsigned long long) m->hwm[k].seq, m->hwm[k].rule);
                json_object_put(src);
                first = false;
        }
        fputs("]}", f);
        fclose(f);
        r = journal_append(h->journal, buf, len, NULL);
        if (r >= 0)
                r = journal_sync(h->journal);
        free(buf);
        if (r < 0)
                return log_error_errno(r, "%s: failed to write the event ids after a snapshot: %m", h->name);
        return 0;
}

void durable_snapshot_all(Manager *m) {
        for (size_t k = 0; m->durable && k < m->n_hosts; k++)
                if (m->hosts[k].journal && journal_records_since_snapshot(m->hosts[k].journal) > 0)
                        (void) snapshot(m, &m->hosts[k]);
}

/* ---- records and the outbound queue ------------------------------------------------ */

static int flush(Manager *m) {
        int r = 0;

        if (m->unsynced) {
                for (size_t k = 0; k < m->n_hosts && r >= 0; k++)
                        if (m->hosts[k].journal)
                                r = journal_sync(m->hosts[k].journal);
                if (r < 0) {
                        /* fail-stop: what is on disk is the truth; a restart recovers it */
                        log_error_errno(r, "Failed to sync the journal: %m; stopping");
                        (void) sd_event_exit(m->event, EXIT_FAILURE);
                        return r;
                }
                m->unsynced = false;
                outbox_durable(m);
                work_durable(m);
                for (size_t k = 0; k < m->n_hosts; k++)
                        if (m->hosts[k].journal &&
                            journal_records_since_snapshot(m->hosts[k].journal) >= SNAPSHOT_EVERY)
                                (void) snapshot(m, &m->hosts[k]);
        }
        for (size_t k = 0; k < m->outq_n; k++) {
                if (m->outq[k])
                        (void) sd_bus_send(NULL, m->outq[k], NULL);
                else {
                        const char *path = m->outq_emit[k] + 1;
                        switch (m->outq_emit[k][0]) {
                        case 'A':
                                (void) sd_bus_emit_object_added(m->bus, path);
                                break;
                        case 'P':
                                (void) sd_bus_emit_properties_changed(m->bus, path, "org.xfsm1.Instance", "State",
                                                                      "UpdatedAt", NULL);
                                break;
                        case 'S':
                                (void) sd_bus_emit_properties_changed(m->bus, path, "org.xfsm1.Instance", "Status",
                                                                      NULL);
                                break;
                        }
                }
                sd_bus_message_unref(m->outq[k]);
                free(m->outq_emit[k]);
        }
        m->outq_n = 0;
        return 0;
}

int durable_flush(Manager *m) {
        return m->durable ? flush(m) : 0;
}

static int on_flush(sd_event_source *s, void *userdata) {
        (void) s;
        return flush(userdata);
}

/* Group commit: the sync runs once the loop has nothing else to do, that is
 * after every message already waiting on the bus has been handled (their
 * records join this sync). */
static int arm_flush(Manager *m) {
        int r;

        if (!m->flush) {
                r = sd_event_add_defer(m->event, &m->flush, on_flush, m);
                if (r < 0)
                        return r;
                r = sd_event_source_set_priority(m->flush, SD_EVENT_PRIORITY_IDLE);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(m->flush, "journal-group-commit");
        }
        return sd_event_source_set_enabled(m->flush, SD_EVENT_ONESHOT);
}

bool durable_deferring(Manager *m) {
        return m->durable && (JournalPolicy) m->policy == JOURNAL_BATCH && (m->unsynced || m->outq_n > 0);
}

static int queue_push(Manager *m, sd_bus_message *msg, char *emit) {
        if (m->outq_n == m->outq_cap) {
                size_t cap = m->outq_cap ? m->outq_cap * 2 : 64;
                sd_bus_message **v = realloc(m->outq, cap * sizeof *v);
                char **e = v ? realloc(m->outq_emit, cap * sizeof *e) : NULL;
                if (v)
                        m->outq = v;
                if (!v || !e) {
                        sd_bus_message_unref(msg);
                        free(emit);
                        return -ENOMEM;
                }
                m->outq_emit = e;
                m->outq_cap = cap;
        }
        m->outq[m->outq_n] = msg;
        m->outq_emit[m->outq_n] = emit;
        m->outq_n++;
        return arm_flush(m);
}

int durable_queue(Manager *m, sd_bus_message *msg) {
        return queue_push(m, sd_bus_message_ref(msg), NULL);
}

int durable_queue_emit(Manager *m, char kind, const char *path) {
        char *e = malloc(strlen(path) + 2);
        if (!e)
                return -ENOMEM;
        e[0] = kind;
        strcpy(e + 1, path);
        return queue_push(m, NULL, e);
}

static bool is_work(const xfsm_effect *e) {
        return xfsm_effect_get_kind(e) == XFSM_EFFECT_EXEC || xfsm_effect_get_kind(e) == XFSM_EFFECT_UNIT;
}

int durable_record(Manager *m, Host *h, const xfsm_step *s) {
        const char *seen[256];
        size_t n_seen = 0;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        bool first = true;
        int r;

        if (!m->durable || !h->journal) {
                /* without a journal the outbox lives in memory, and work starts at once */
                for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                        const xfsm_effect *e = xfsm_step_effect(s, k);
                        const xfsm_routed *rt = xfsm_effect_routed(e);
                        if (xfsm_effect_get_kind(e) == XFSM_EFFECT_ROUTED &&
                            !manager_find_host(m, xfsm_routed_target_component(rt)))
                                (void) outbox_add(m, h->name, ++m->route_seq, xfsm_routed_rule_index(rt), rt);
                        if (is_work(e)) {
                                char id[32];
                                snprintf(id, sizeof id, "%llu", (unsigned long long) ++m->work_seq);
                                (void) work_add(m, h, id, e);
                        }
                }
                m->work_done_recorded = m->work_done_id != NULL;
                work_durable(m);
                return 0;
        }
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "{\"bootId\":\"%s\",\"instances\":[", m->boot_id);
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                const char *id = xfsm_effect_instance_id(e);
                xfsm_instance *i;
                bool dup = false;
                char *image;

                if (!id || xfsm_effect_get_kind(e) == XFSM_EFFECT_DROPPED)
                        continue;
                for (size_t j = 0; j < n_seen && !dup; j++)
                        dup = streq(seen[j], id);
                if (dup)
                        continue;
                if (n_seen < ELEMENTSOF(seen))
                        seen[n_seen++] = id;
                i = xfsm_engine_find(m->engine, id);
                if (!i || !(image = xfsm_step_instance_json(s, i)))
                        continue;
                fputs(first ? "" : ",", f);
                fputs(image, f);
                free(image);
                first = false;
        }
        fputs("],\"dropped\":[", f);
        first = true;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                if (xfsm_effect_get_kind(e) != XFSM_EFFECT_DROPPED)
                        continue;
                fprintf(f, "%s\"%s\"", first ? "" : ",", xfsm_effect_instance_id(e));
                first = false;
        }
        fputc(']', f);
        if (m->current_event_id && xfsm_step_instance_id(s)) {
                xfsm_instance *i = xfsm_engine_find(m->engine, xfsm_step_instance_id(s));
                json_object *id = json_object_new_string(m->current_event_id);
                json_object *st = json_object_new_string(i ? xfsm_instance_state(i) : "");
                fprintf(f, ",\"eventId\":{\"id\":%s,\"state\":%s}", json_object_to_json_string(id),
                        json_object_to_json_string(st));
                json_object_put(id);
                json_object_put(st);
        }
        uint64_t seq = journal_last_seq(h->journal) + 1; /* this record's: the routed events' id */
        first = true;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                const xfsm_routed *rt = xfsm_effect_routed(e);
                char *json;
                if (xfsm_effect_get_kind(e) != XFSM_EFFECT_ROUTED ||
                    manager_find_host(m, xfsm_routed_target_component(rt)))
                        continue;
                json = xfsm_routed_to_json(rt);
                if (!json)
                        continue;
                json_object *t = json_object_new_string(xfsm_routed_target_component(rt));
                fprintf(f, "%s{\"target\":%s,\"source\":\"%s\",\"seq\":%llu,\"rule\":%u,\"event\":%s}",
                        first ? ",\"outbox\":[" : ",", json_object_to_json_string(t), h->name, (unsigned long long) seq,
                        xfsm_routed_rule_index(rt), json);
                json_object_put(t);
                free(json);
                first = false;
        }
        if (!first)
                fputc(']', f);
        first = true;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *e = xfsm_step_effect(s, k);
                char id[48];
                if (!is_work(e))
                        continue;
                snprintf(id, sizeof id, "%llu.%zu", (unsigned long long) seq, k);
                fputs(first ? ",\"work\":[" : ",", f);
                work_write_effect(f, id, e);
                first = false;
        }
        if (!first)
                fputc(']', f);
        if (m->work_done_id) {
                json_object *v = json_object_new_string(m->work_done_id);
                fprintf(f, ",\"workDone\":%s", json_object_to_json_string(v));
                json_object_put(v);
        }
        if (m->delivery.set) {
                json_object *src = json_object_new_string(m->delivery.source);
                fprintf(f, ",\"hwm\":{\"source\":%s,\"seq\":%llu,\"rule\":%u}", json_object_to_json_string(src),
                        (unsigned long long) m->delivery.seq, m->delivery.rule);
                json_object_put(src);
        }
        fputc('}', f);
        fclose(f);

        r = journal_append(h->journal, buf, len, NULL);
        free(buf);
        if (r >= 0) {
                for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                        const xfsm_effect *e = xfsm_step_effect(s, k);
                        const xfsm_routed *rt = xfsm_effect_routed(e);
                        if (xfsm_effect_get_kind(e) == XFSM_EFFECT_ROUTED &&
                            !manager_find_host(m, xfsm_routed_target_component(rt)))
                                (void) outbox_add(m, h->name, seq, xfsm_routed_rule_index(rt), rt);
                        if (is_work(e)) {
                                char id[48];
                                snprintf(id, sizeof id, "%llu.%zu", (unsigned long long) seq, k);
                                (void) work_add(m, h, id, e);
                        }
                }
                m->work_done_recorded = m->work_done_id != NULL;
        }
        if (r < 0) {
                log_error_errno(r, "%s: failed to write the journal: %m; stopping", h->name);
                (void) sd_event_exit(m->event, EXIT_FAILURE);
                return r;
        }
        switch ((JournalPolicy) m->policy) {
        case JOURNAL_SYNC:
                r = journal_sync(h->journal);
                if (r < 0) {
                        log_error_errno(r, "%s: failed to sync the journal: %m; stopping", h->name);
                        (void) sd_event_exit(m->event, EXIT_FAILURE);
                        return r;
                }
                break;
        case JOURNAL_BATCH:
                m->unsynced = true;
                r = arm_flush(m);
                if (r < 0)
                        return r;
                break;
        case JOURNAL_NONE:
                break;
        }
        if ((JournalPolicy) m->policy != JOURNAL_BATCH) {
                work_durable(m); /* synced (or never to be): start what it holds */
                if (journal_records_since_snapshot(h->journal) >= SNAPSHOT_EVERY)
                        (void) snapshot(m, h);
        }
        return 0;
}
