/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Instance images, what a host persists (xfsm_instance_to_json(),
 * xfsm_step_instance_json()), and recovery from them: an image, a journal
 * record of images and drops, a snapshot of one image per line, or a
 * snapshot staged and the journal tail after it, each image parsed at most
 * once. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "json-buf.h"
#include "json-parse.h"
#include "macro.h"

/* The image of i, its history from the log_from-th entry on as its last key
 * (see xfsm_instance_to_json()). */
/* An instance's image, written straight into a buffer (json-buf.h): a json-c
 * object built only to be printed cost a quarter of a durable Send (see
 * "Benchmarks" in README.md). Members in the order readers have always seen;
 * the context and timer payloads printed by json-c; the history last. */
static void image_names(JsonBuf *b, const Machine *m, const uint64_t *bits, unsigned from, unsigned to) {
        bool first = true;

        json_buf_put(b, "[", 1);
        for (unsigned k = from; k < to; k++)
                if (bit(bits, k)) {
                        if (!first)
                                json_buf_put(b, ",", 1);
                        json_buf_string(b, m->states[k].name);
                        first = false;
                }
        json_buf_put(b, "]", 1);
}

static char *image_json(const xfsm_instance *i, const char *log_key, size_t log_from) {
        const Machine *m = i->machine;
        JsonBuf b = {};
        char *s;

        json_buf_put(&b, "{", 1);
        json_buf_key(&b, "id");
        json_buf_string(&b, i->id);
        json_buf_key(&b, "component");
        json_buf_string(&b, i->comp->def->name);
        json_buf_key(&b, "machine");
        json_buf_string(&b, m->name);
        json_buf_key(&b, "version");
        json_buf_string(&b, i->comp->def->hash);
        json_buf_key(&b, "seq");
        json_buf_u64(&b, i->seq);
        if (m->statechart) {
                json_buf_key(&b, "active");
                image_names(&b, m, i->active, 0, m->n_states);
                json_buf_key(&b, "history");
                json_buf_put(&b, "{", 1);
                for (unsigned k = 0; k < m->n_states; k++) {
                        const State *st = &m->states[k];
                        if (!st->history)
                                continue;
                        json_buf_key(&b, st->name);
                        image_names(&b, m, i->hist + (size_t) st->history_slot * m->n_words, k + 1, st->end);
                }
                json_buf_put(&b, "}", 1);
        } else {
                json_buf_key(&b, "state");
                json_buf_string(&b, m->states[i->state].name);
        }
        json_buf_key(&b, "status");
        json_buf_string(&b, xfsm_instance_status(i));
        json_buf_key(&b, "createdAt");
        json_buf_u64(&b, i->created_at);
        json_buf_key(&b, "updatedAt");
        json_buf_u64(&b, i->updated_at);
        if (i->entry_point) {
                json_buf_key(&b, "entryPoint");
                json_buf_put(&b, "true", 4);
        }
        if (i->parent_id) {
                json_buf_key(&b, "parentId");
                json_buf_string(&b, i->parent_id);
                json_buf_key(&b, "parentMachine");
                json_buf_string(&b, i->parent_machine->name);
        }
        if (i->retention_deadline) {
                json_buf_key(&b, "retentionDeadline");
                json_buf_u64(&b, i->retention_deadline);
        }
        json_buf_key(&b, "context");
        json_buf_json(&b, i->context);
        json_buf_key(&b, "timers");
        json_buf_put(&b, "[", 1);
        for (unsigned k = 0; k < i->n_timers; k++) {
                const Timer *t = &i->timers[k];

                json_buf_put(&b, k ? ",{" : "{", k ? 2 : 1);
                if (t->t) {
                        json_buf_key(&b, "transition");
                        json_buf_u64(&b, t->t->index);
                } else {
                        json_buf_key(&b, "send");
                        json_buf_u64(&b, t->send->id);
                        json_buf_key(&b, "payload");
                        json_buf_json(&b, t->payload);
                }
                json_buf_key(&b, "event");
                json_buf_string(&b, t->event);
                json_buf_key(&b, "deadline");
                json_buf_u64(&b, t->deadline);
                json_buf_key(&b, "realtimeDeadline");
                json_buf_u64(&b, t->realtime_deadline);
                json_buf_put(&b, "}", 1);
        }
        json_buf_put(&b, "]}", 2);
        if (b.oom) {
                free(json_buf_take(&b));
                return NULL;
        }
        /* the history last, written here: a superseded snapshot line gives it back without being parsed
         * (staged_line_log()) */
        s = history_image(b.p, b.n, log_key, i->log, log_from);
        free(json_buf_take(&b));
        return s;
}

char *xfsm_instance_to_json(const xfsm_instance *i) {
        assert(i);
        return image_json(i, "log", 0);
}

char *xfsm_step_instance_json(const xfsm_step *s, const xfsm_instance *i) {
        size_t added = 0, n;

        assert(s);
        assert(i);

        /* the step appended one entry per transition of i, unless the limits dropped some again */
        for (size_t k = 0; k < s->n; k++)
                added += s->v[k].kind == XFSM_EFFECT_TRANSITION && streq(s->v[k].id, i->id);
        n = history_n(i->log);
        return image_json(i, "logAdded", n - (added < n ? added : n));
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static uint64_t juint(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

/* ---- history in images, found without json-c --------------------------------
 *
 * json-c costs about a hundred instructions a byte, and history is most of
 * the bytes of an image once its instance has some. Recovery finds the
 * history key of each image by following strings and nesting only, gives
 * json-c the rest, and reads the history itself (history_append_text()):
 * still one parse of each record or line, shared out. A key's quotes are
 * never inside a string (they would be escaped), so following strings is
 * enough to know where keys are. */

typedef struct LogRef {
        const char *text; /* the array, from [ to ] */
        size_t len;
        bool added; /* "logAdded": what one step appended to the history the instance had */
} LogRef;

typedef struct LogSpan {
        size_t image;      /* which image of a record's "instances" */
        size_t start, end; /* the text cut out: ,"log":[...] */
        LogRef log;
} LogSpan;

/* Past the string that begins at p (its opening quote); NULL if it does not end. */
static const char *skip_string(const char *p, const char *end) {
        for (p++; p < end;) {
                const char *q = memchr(p, '"', (size_t) (end - p)), *b;
                if (!q)
                        return NULL;
                /* escaped when an odd number of backslashes comes before it */
                for (b = q; b > p && b[-1] == '\\'; b--)
                        ;
                if ((q - b) % 2 == 0)
                        return q + 1;
                p = q + 1;
        }
        return NULL;
}

/* Past the array that begins at p (its [); NULL if it does not end. */
static const char *skip_array(const char *p, const char *end) {
        unsigned depth = 0;

        while (p < end) {
                if (*p == '"') {
                        p = skip_string(p, end);
                        if (!p)
                                return NULL;
                        continue;
                }
                if (*p == '[' || *p == '{')
                        depth++;
                else if ((*p == ']' || *p == '}') && --depth == 0)
                        return p + 1;
                p++;
        }
        return NULL;
}

/* The key at p (past its opening quote, klen bytes) names a history: 1 "log", 2 "logAdded", 0 neither. */
static int log_key(const char *p, size_t klen) {
        if (klen == 3 && memcmp(p, "log", 3) == 0)
                return 1;
        if (klen == 8 && memcmp(p, "logAdded", 8) == 0)
                return 2;
        return 0;
}

/* The history keys of the images in a record's "instances" (written compact,
 * after a comma: the others are left to json-c), into e->spans in text
 * order. A record that is not JSON gives none: json-c says what is wrong. */
static int record_log_spans(xfsm_engine *e, const char *s, size_t len, size_t *ret_n) {
        const char *p = s, *end = s + len;
        bool instances_key = false, in_instances = false;
        size_t n = 0, images = 0;
        unsigned depth = 0;

        *ret_n = 0;
        while (p < end) {
                switch (*p) {
                case '"': {
                        const char *q = skip_string(p, end);
                        const char *close;
                        int kind;

                        if (!q)
                                return 0;
                        if (q >= end || *q != ':') {
                                p = q;
                                continue;
                        }
                        if (depth == 1)
                                instances_key = q - p == 11 && memcmp(p + 1, "instances", 9) == 0;
                        else if (depth == 3 && in_instances && p[-1] == ',' && q + 1 < end && q[1] == '[' &&
                                 (kind = log_key(p + 1, (size_t) (q - p) - 2)) > 0) {
                                close = skip_array(q + 1, end);
                                if (!close)
                                        return 0;
                                if (n == e->cap_spans) {
                                        size_t cap = e->cap_spans ? e->cap_spans * 2 : 16;
                                        LogSpan *v = realloc(e->spans, cap * sizeof *v);
                                        if (!v)
                                                return -ENOMEM;
                                        e->spans = v;
                                        e->cap_spans = cap;
                                }
                                e->spans[n++] = (LogSpan) {
                                        .image = images - 1,
                                        .start = (size_t) (p - 1 - s),
                                        .end = (size_t) (close - s),
                                        .log = { q + 1, (size_t) (close - (q + 1)), kind == 2 },
                                };
                                p = close;
                                continue;
                        }
                        p = q;
                        continue;
                }
                case '[':
                case '{':
                        depth++;
                        if (depth == 2 && *p == '[' && instances_key)
                                in_instances = true;
                        else if (depth == 3 && *p == '{' && in_instances)
                                images++;
                        break;
                case ']':
                case '}':
                        if (depth == 2)
                                in_instances = false;
                        depth--;
                        break;
                }
                p++;
        }
        *ret_n = n;
        return 0;
}

/* The history key of a lone image (a snapshot line): the last key, as
 * image_json() writes it, found from the end: the last ,"log":[ or
 * ,"logAdded":[ of the text, if the array it opens ends the object (only a
 * value of the outermost object is followed by its last brace). */
static bool line_log_span(const char *s, size_t len, LogSpan *ret) {
        if (len < 12 || s[len - 1] != '}' || s[len - 2] != ']')
                return false;
        for (size_t k = len - 2; k-- > 1;) {
                const char *q;
                int kind;

                if (s[k] != ',' || s[k + 1] != '"')
                        continue;
                q = memchr(s + k + 2, '"', len - k - 2);
                if (!q || q + 2 >= s + len || q[1] != ':' || q[2] != '[' ||
                    !(kind = log_key(s + k + 2, (size_t) (q - (s + k + 2)))))
                        continue;
                if (skip_array(q + 2, s + len - 1) != s + len - 1)
                        return false; /* in a value inside: this image has no history key */
                *ret = (LogSpan) {
                        .start = k,
                        .end = len - 1,
                        .log = { q + 2, len - 1 - (size_t) (q + 2 - s), kind == 2 },
                };
                return true;
        }
        return false;
}

/* json-c's parse of s with the spans cut out (of a copy: one call to the
 * tokener costs more than the copy). */
static json_object *parse_without(xfsm_engine *e, const char *s, size_t len, const LogSpan *spans, size_t n) {
        size_t pos = 0, l = 0;

        json_tokener_reset(e->tok);
        if (n == 0)
                return json_parse_ex(e->tok, 0, s, len);
        if (len > e->cap_cut) {
                char *b = realloc(e->cut, len);
                if (!b)
                        return NULL;
                e->cut = b;
                e->cap_cut = len;
        }
        for (size_t k = 0; k <= n; k++) {
                size_t stop = k < n ? spans[k].start : len;
                memcpy(e->cut + l, s + pos, stop - pos);
                l += stop - pos;
                if (k < n)
                        pos = spans[k].end;
        }
        return json_parse_ex(e->tok, 0, e->cut, l);
}

/* ---- recovery: images back into instances -------------------------------- */

static int restore_object(xfsm_engine *e, json_object *o, const LogRef *log);
static bool staged_supersede(xfsm_engine *e, const char *id, const char **ret_line, size_t *ret_len);
static int staged_line_log(xfsm_engine *e, const char *line, size_t len, History **log);

static int engine_tokener(xfsm_engine *e) {
        if (!e->tok && !(e->tok = json_tokener_new()))
                return -ENOMEM;
        return 0;
}

/* After a reboot boottime deadlines mean nothing: count them from the
 * realtime ones (overdue timers fire at once); retention restarts too. */
static void rebase_after_reboot(xfsm_engine *e, json_object *image) {
        json_object *timers;

        if (json_object_object_get_ex(image, "timers", &timers)) {
                uint64_t now = xfsm_engine_now(e), rt_now = xfsm_engine_realtime(e);
                for (size_t t = 0; t < json_object_array_length(timers); t++) {
                        json_object *tm = json_object_array_get_idx(timers, t);
                        uint64_t rt = juint(tm, "realtimeDeadline");
                        json_object_object_add(tm, "deadline",
                                               json_object_new_uint64(now + (rt > rt_now ? rt - rt_now : 0)));
                }
                json_object_object_del(image, "retentionDeadline");
        }
}

/* One image from its text (a snapshot line, or xfsm_engine_restore_json()). */
static int restore_text(xfsm_engine *e, const char *s, size_t len, bool rebase) {
        LogSpan span = {};
        bool cut;
        json_object *o;
        int r;

        r = engine_tokener(e);
        if (r < 0)
                return r;
        cut = e->history.limit > 0 && line_log_span(s, len, &span);
        o = parse_without(e, s, len, &span, cut);
        if (!o)
                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "an image (a snapshot line) is not JSON");
        if (rebase)
                rebase_after_reboot(e, o);
        r = restore_object(e, o, cut ? &span.log : NULL);
        json_object_put(o);
        return r;
}

int xfsm_engine_restore_json(xfsm_engine *e, const char *image) {
        assert(e);
        assert(image);
        return restore_text(e, image, strlen(image), false);
}

int xfsm_engine_restore_record(xfsm_engine *e, const char *json, size_t len, const char *boot_id,
                               unsigned *ret_restored) {
        json_object *o, *v, *list;
        size_t n_spans = 0, span = 0;
        bool same_boot;
        unsigned n = 0;
        int r;

        r = engine_tokener(e);
        if (r < 0)
                return r;
        if (e->history.limit > 0 && (r = record_log_spans(e, json, len, &n_spans)) < 0)
                return r;
        o = parse_without(e, json, len, e->spans, n_spans);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "a record is not a JSON object");
        }
        same_boot = json_object_object_get_ex(o, "bootId", &v) && boot_id &&
                    streq(json_object_get_string(v), boot_id);
        if (json_object_object_get_ex(o, "instances", &list))
                for (size_t k = 0; k < json_object_array_length(list) && r >= 0; k++) {
                        json_object *image = json_object_array_get_idx(list, k);
                        const LogRef *log = NULL;
                        while (span < n_spans && e->spans[span].image < k)
                                span++;
                        if (span < n_spans && e->spans[span].image == k)
                                log = &e->spans[span].log;
                        if (!same_boot)
                                rebase_after_reboot(e, image);
                        r = restore_object(e, image, log);
                        n += r >= 0;
                }
        if (r >= 0 && json_object_object_get_ex(o, "dropped", &list))
                for (size_t k = 0; k < json_object_array_length(list); k++)
                        (void) xfsm_engine_forget(e, json_object_get_string(json_object_array_get_idx(list, k)));
        json_object_put(o);
        if (r >= 0 && ret_restored)
                *ret_restored = n;
        return r;
}

/* A snapshot: a header line {"bootId": ...}, then one image per line. */
int xfsm_engine_restore_images(xfsm_engine *e, const char *text, size_t len, const char *boot_id,
                               unsigned *ret_restored) {
        const char *p = text, *end = text + len;
        bool first = true, same_boot = false;
        unsigned n = 0;
        int r;

        r = engine_tokener(e);
        if (r < 0)
                return r;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t l = nl ? (size_t) (nl - p) : (size_t) (end - p);
                json_object *o, *v;

                if (l == 0) {
                        p += 1;
                        continue;
                }
                if (first) {
                        json_tokener_reset(e->tok);
                        o = json_parse_ex(e->tok, 0, p, l);
                        if (!o)
                                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "a snapshot line is not JSON");
                        same_boot = json_object_object_get_ex(o, "bootId", &v) && boot_id &&
                                    streq(json_object_get_string(v), boot_id);
                        first = false;
                        json_object_put(o);
                        p += l + 1;
                        continue;
                }
                r = restore_text(e, p, l, !same_boot);
                if (r < 0)
                        return r;
                n++;
                p += l + 1;
        }
        if (ret_restored)
                *ret_restored = n;
        return 0;
}

/* Put an instance back as an image describes it (recovery): no step, no
 * effects. An instance of that id is replaced. */
static int restore_object(xfsm_engine *e, json_object *o, const LogRef *log) {
        _cleanup_(history_freep) History *prev = NULL;
        json_object *v, *timers, *log_json = NULL;
        const char *id, *comp_name, *machine_name, *status, *line = NULL;
        ComponentRt *c;
        const Machine *m;
        xfsm_instance *i, *old;
        size_t line_len = 0;
        bool staged, added;
        int r = -XFSM_E_INVALID_ARGUMENT;

        if (!o || !json_object_is_type(o, json_type_object))
                goto finish;
        id = jstr(o, "id");
        comp_name = jstr(o, "component");
        machine_name = jstr(o, "machine");
        status = jstr(o, "status");
        if (!id || strlen(id) != ID_LEN || !comp_name || !machine_name || !status)
                goto finish;
        /* the version it was created with: loaded, or asked of the host (an older definition it kept) */
        c = jstr(o, "version") ? engine_find_version(e, comp_name, jstr(o, "version")) : NULL;
        if (!c && jstr(o, "version") && e->version_loader &&
            e->version_loader(e->version_loader_ud, e, comp_name, jstr(o, "version")) >= 0)
                c = engine_find_version(e, comp_name, jstr(o, "version"));
        if (!c)
                c = engine_find_comp(e, comp_name); /* its definition is gone: the current one, as before Reload */
        if (!c) {
                r = engine_fail(e, -XFSM_E_NO_SUCH_COMPONENT, "no component '%s'", comp_name);
                goto finish;
        }
        m = component_find_machine(c->def, machine_name);
        if (!m) {
                r = engine_fail(e, -XFSM_E_NO_SUCH_MACHINE, "no machine '%s' in %s", machine_name, comp_name);
                goto finish;
        }
        staged = staged_supersede(e, id, &line, &line_len);
        old = instance_map_get(&e->map, id);
        /* history: "log" is the whole of it; "logAdded" what one step appended to the history of the
         * instance this image replaces (restored already, or a snapshot line it supersedes); an image
         * with neither (written before history was kept) restores none. Cut out of the text already
         * (log), or left to json-c. */
        if (log)
                added = log->added;
        else if (json_object_object_get_ex(o, "log", &log_json))
                added = false;
        else
                added = json_object_object_get_ex(o, "logAdded", &log_json);
        if (added && e->history.limit > 0) {
                if (old)
                        prev = TAKE_PTR(old->log);
                else if (staged && (r = staged_line_log(e, line, line_len, &prev)) < 0)
                        goto finish;
        }
        if (old) {
                instance_unlink(old);
                instance_map_remove(&e->map, old);
                instance_release(old);
        }
        i = calloc(1, sizeof *i);
        if (!i) {
                r = -ENOMEM;
                goto finish;
        }
        memcpy(i->id, id, ID_LEN + 1);
        i->machine = m;
        i->comp = c;
        i->seq = juint(o, "seq");
        if (i->seq > e->next_inst_seq)
                e->next_inst_seq = i->seq;
        i->created_at = juint(o, "createdAt");
        i->updated_at = juint(o, "updatedAt");
        i->retention_deadline = juint(o, "retentionDeadline");
        i->status = streq(status, "completed") ? STATUS_COMPLETED : streq(status, "error") ? STATUS_ERROR : STATUS_ACTIVE;
        i->entry_point = json_object_object_get_ex(o, "entryPoint", &v) && json_object_get_boolean(v);
        i->context = json_object_object_get_ex(o, "context", &v) && json_object_is_type(v, json_type_object)
                             ? json_object_get(v)
                             : json_object_new_object();
        if (!i->context) {
                instance_free(i);
                r = -ENOMEM;
                goto finish;
        }
        if (jstr(o, "parentId")) {
                i->parent_id = strdup(jstr(o, "parentId"));
                i->parent_machine = jstr(o, "parentMachine") ? component_find_machine(c->def, jstr(o, "parentMachine"))
                                                             : NULL;
        }
        if (m->statechart) {
                i->active = calloc(m->n_words, sizeof(uint64_t));
                i->hist = m->n_history ? calloc((size_t) m->n_history * m->n_words, sizeof(uint64_t)) : NULL;
                if (!i->active || (m->n_history && !i->hist)) {
                        instance_free(i);
                        r = -ENOMEM;
                        goto finish;
                }
                if (json_object_object_get_ex(o, "active", &v))
                        for (size_t k = 0; k < json_object_array_length(v); k++) {
                                const State *st = machine_find_state(m, json_object_get_string(json_object_array_get_idx(v, k)));
                                if (st)
                                        bit_set(i->active, st->index);
                        }
                if (json_object_object_get_ex(o, "history", &v)) {
                        json_object_object_foreach(v, name, list) {
                                const State *st = machine_find_state(m, name);
                                if (!st || !st->history)
                                        continue;
                                uint64_t *hv = i->hist + (size_t) st->history_slot * m->n_words;
                                for (size_t k = 0; k < json_object_array_length(list); k++) {
                                        const State *x = machine_find_state(
                                                m, json_object_get_string(json_object_array_get_idx(list, k)));
                                        if (x)
                                                bit_set(hv, x->index);
                                }
                        }
                }
                i->state = 0;
        } else {
                const State *st = jstr(o, "state") ? machine_find_state(m, jstr(o, "state")) : NULL;
                i->state = st ? st->index : m->initial;
        }
        i->log = TAKE_PTR(prev);
        r = log ? history_append_text(&i->log, &e->strings, log->text, log->len, &e->history)
                : history_append_json(&i->log, &e->strings, log_json, &e->history);
        if (r == -EBADMSG)
                r = 0; /* not of the form written here: left out */
        if (r < 0 || (r = instance_map_put(&e->map, i)) < 0) {
                instance_free(i);
                goto finish;
        }
        instance_link(i);
        if (m->statechart && (r = sc_refresh(i)) < 0)
                goto finish;
        if (json_object_object_get_ex(o, "timers", &timers))
                for (size_t k = 0; k < json_object_array_length(timers); k++) {
                        json_object *t = json_object_array_get_idx(timers, k);
                        Timer *tm;
                        if (i->n_timers == i->cap_timers) {
                                unsigned cap = i->cap_timers ? i->cap_timers * 2u : 2u;
                                Timer *nv = cap > 255 ? NULL : realloc(i->timers, cap * sizeof *nv);
                                if (!nv)
                                        break;
                                i->timers = nv;
                                i->cap_timers = (uint8_t) cap;
                        }
                        tm = &i->timers[i->n_timers];
                        *tm = (Timer) { .deadline = juint(t, "deadline"),
                                        .realtime_deadline = juint(t, "realtimeDeadline"),
                                        .seq = ++e->next_timer_seq };
                        if (json_object_object_get_ex(t, "transition", &v)) {
                                size_t idx = (size_t) json_object_get_int(v);
                                if (idx >= m->n_transitions)
                                        continue;
                                tm->t = &m->transitions[idx];
                                tm->event = tm->t->event;
                        } else if (json_object_object_get_ex(t, "send", &v)) {
                                size_t idx = (size_t) json_object_get_int(v);
                                if (idx >= m->n_actions)
                                        continue;
                                tm->send = m->actions[idx];
                                tm->event = tm->send->event;
                                if (json_object_object_get_ex(t, "payload", &v))
                                        tm->payload = json_object_get(v);
                        } else
                                continue;
                        i->n_timers++;
                        if (heap_push(&e->timers, tm->deadline, tm->seq, i) >= 0)
                                i->heap_refs++;
                }
        if (i->retention_deadline && heap_push(&e->retention, i->retention_deadline, 0, i) >= 0)
                i->heap_refs++;
        r = 0;
finish:
        return r;
}

/* ---- recovery of a snapshot and a tail, each image parsed at most once ------
 *
 * The snapshot's lines are indexed by the id each begins with ({"id":"<uuid>",
 * as xfsm_instance_to_json() writes it) and kept as text; an image of the tail
 * (or a drop) supersedes its line, which is then never parsed; the rest is
 * parsed at the end. A line that does not begin that way is restored at once. */

typedef struct StagedLine {
        size_t off, len;
        bool gone;
} StagedLine;

typedef struct Staged {
        char *text;
        bool same_boot;
        StagedLine *lines;
        size_t n, cap;
        uint32_t *slots; /* open addressing: line index + 1, 0 empty */
        size_t n_slots;
} Staged;

#define IMAGE_ID_PREFIX "{\"id\":\""

static size_t staged_hash(const char *id) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t k = 0; k < ID_LEN; k++)
                h = (h ^ (unsigned char) id[k]) * 1099511628211ULL;
        return (size_t) h;
}

static const char *staged_id(const Staged *st, size_t line) {
        return st->text + st->lines[line].off + strlen(IMAGE_ID_PREFIX);
}

void image_staged_free(xfsm_engine *e) {
        if (!e->staged)
                return;
        free(e->staged->text);
        free(e->staged->lines);
        free(e->staged->slots);
        free(e->staged);
        e->staged = NULL;
}

/* A record's image (or drop) of id supersedes its snapshot line: true, and
 * the line, if it was still to be restored. */
static bool staged_supersede(xfsm_engine *e, const char *id, const char **ret_line, size_t *ret_len) {
        Staged *st = e->staged;
        if (!st || !st->n_slots || strlen(id) != ID_LEN)
                return false;
        for (size_t h = staged_hash(id) & (st->n_slots - 1);; h = (h + 1) & (st->n_slots - 1)) {
                uint32_t v = st->slots[h];
                StagedLine *l;
                if (v == 0)
                        return false;
                l = &st->lines[v - 1];
                if (memcmp(staged_id(st, v - 1), id, ID_LEN) == 0) {
                        if (l->gone)
                                return false;
                        l->gone = true;
                        if (ret_line)
                                *ret_line = st->text + l->off;
                        if (ret_len)
                                *ret_len = l->len;
                        return true;
                }
        }
}

/* The history of a superseded snapshot line, for the record's "logAdded" to
 * go on from, without parsing the rest of the line. */
static int staged_line_log(xfsm_engine *e, const char *line, size_t len, History **log) {
        LogSpan span;
        int r;

        if (!line_log_span(line, len, &span))
                return 0; /* written before history was kept */
        r = history_append_text(log, &e->strings, span.log.text, span.log.len, &e->history);
        return r == -EBADMSG ? 0 : r;
}

int xfsm_engine_stage_images(xfsm_engine *e, const char *text, size_t len, const char *boot_id) {
        const size_t plen = strlen(IMAGE_ID_PREFIX);
        const char *p, *end;
        bool first = true;
        Staged *st;

        image_staged_free(e);
        if (!e->tok && !(e->tok = json_tokener_new()))
                return -ENOMEM;
        st = calloc(1, sizeof *st);
        if (!st || !(st->text = malloc(len + 1))) {
                free(st);
                return -ENOMEM;
        }
        memcpy(st->text, text, len);
        st->text[len] = 0;
        e->staged = st;
        p = st->text;
        end = st->text + len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t l = nl ? (size_t) (nl - p) : (size_t) (end - p);
                json_object *o, *v;
                int r;

                if (l == 0) {
                        p++;
                        continue;
                }
                if (first) {
                        json_tokener_reset(e->tok);
                        o = json_parse_ex(e->tok, 0, p, l);
                        if (!o) {
                                image_staged_free(e);
                                return engine_fail(e, -XFSM_E_INVALID_ARGUMENT, "a snapshot line is not JSON");
                        }
                        st->same_boot = json_object_object_get_ex(o, "bootId", &v) && boot_id &&
                                        streq(json_object_get_string(v), boot_id);
                        json_object_put(o);
                        first = false;
                } else if (l > plen + ID_LEN && memcmp(p, IMAGE_ID_PREFIX, plen) == 0 && p[plen + ID_LEN] == '"') {
                        if (st->n == st->cap) {
                                size_t cap = st->cap ? st->cap * 2 : 1024;
                                StagedLine *nv = realloc(st->lines, cap * sizeof *nv);
                                if (!nv) {
                                        image_staged_free(e);
                                        return -ENOMEM;
                                }
                                st->lines = nv;
                                st->cap = cap;
                        }
                        st->lines[st->n++] = (StagedLine) { .off = (size_t) (p - st->text), .len = l };
                } else {
                        /* not in the form written here: restore it now */
                        r = restore_text(e, p, l, !st->same_boot);
                        if (r < 0) {
                                image_staged_free(e);
                                return r;
                        }
                }
                p += l + 1;
        }
        if (st->n > UINT32_MAX / 4) {
                image_staged_free(e);
                return -E2BIG;
        }
        st->n_slots = 16;
        while (st->n_slots < st->n * 2)
                st->n_slots *= 2;
        st->slots = calloc(st->n_slots, sizeof *st->slots);
        if (!st->slots) {
                image_staged_free(e);
                return -ENOMEM;
        }
        for (size_t k = 0; k < st->n; k++) {
                size_t h = staged_hash(staged_id(st, k)) & (st->n_slots - 1);
                while (st->slots[h] != 0) {
                        /* the same id twice in one snapshot: the later line wins */
                        if (memcmp(staged_id(st, st->slots[h] - 1), staged_id(st, k), ID_LEN) == 0) {
                                st->lines[st->slots[h] - 1].gone = true;
                                break;
                        }
                        h = (h + 1) & (st->n_slots - 1);
                }
                st->slots[h] = (uint32_t) k + 1;
        }
        return 0;
}

static int cmp_instance_seq(const void *a, const void *b) {
        const xfsm_instance *x = *(xfsm_instance *const *) a, *y = *(xfsm_instance *const *) b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int xfsm_engine_restore_finish(xfsm_engine *e, unsigned *ret_restored) {
        Staged *st = e->staged;
        unsigned n = 0;
        int r = 0;

        if (st) {
                e->staged = NULL; /* restoring these supersedes nothing */
                for (size_t k = 0; k < st->n && r >= 0; k++) {
                        if (st->lines[k].gone)
                                continue;
                        r = restore_text(e, st->text + st->lines[k].off, st->lines[k].len, !st->same_boot);
                        n += r >= 0;
                }
                e->staged = st;
                image_staged_free(e);
                if (r < 0)
                        return r;
        }

        /* creation order, which replacing an instance during recovery disturbs: ListInstances,
         * broadcasts and cascades go by it */
        for (size_t c = 0; c < e->n_comps; c++) {
                ComponentRt *comp = e->comps[c];
                size_t count = comp->n_instances, k = 0;
                _cleanup_(freep) xfsm_instance **v = NULL;

                if (count < 2)
                        continue;
                v = malloc(count * sizeof *v);
                if (!v)
                        return -ENOMEM;
                for (xfsm_instance *i = comp->all_head; i && k < count; i = i->all_next)
                        v[k++] = i;
                qsort(v, k, sizeof *v, cmp_instance_seq);
                for (size_t j = 0; j < k; j++)
                        instance_unlink(v[j]);
                for (size_t j = 0; j < k; j++)
                        instance_link(v[j]);
        }
        if (ret_restored)
                *ret_restored = n;
        return 0;
}

/* Recovery of a drop: the instance goes, with no step. */
int xfsm_engine_forget(xfsm_engine *e, const char *id) {
        xfsm_instance *i;

        if (id)
                (void) staged_supersede(e, id, NULL, NULL);
        i = id ? instance_map_get(&e->map, id) : NULL;
        if (!i)
                return -XFSM_E_NO_SUCH_INSTANCE;
        instance_unlink(i);
        instance_map_remove(&e->map, i);
        instance_release(i);
        return 0;
}
