/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* High-water marks (see hwm.h): a small table, in the order marks were last
 * raised, so that the least recently used incarnation of a source is the
 * one forgotten and a snapshot written in this order reads back the same. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hwm.h"
#include "json-util.h"
#include "macro.h"

typedef struct Mark {
        char *component, *source, *incarnation;
        uint64_t seq;
        unsigned rule;
} Mark;

struct HwmTable {
        Mark *v; /* least recently raised first */
        size_t n, cap;
};

int hwm_new(HwmTable **ret) {
        HwmTable *t = calloc(1, sizeof *t);

        assert(ret);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

static void mark_done(Mark *k) {
        free(k->component);
        free(k->source);
        free(k->incarnation);
}

HwmTable *hwm_free(HwmTable *t) {
        if (!t)
                return NULL;
        for (size_t k = 0; k < t->n; k++)
                mark_done(&t->v[k]);
        free(t->v);
        free(t);
        return NULL;
}

static bool mark_is(const Mark *k, const char *component, const char *source, const char *incarnation) {
        return streq(k->source, source) && streq(k->incarnation, incarnation) && streq(k->component, component);
}

static Mark *find(const HwmTable *t, const char *component, const RouteId *id) {
        for (size_t k = t->n; k > 0; k--) /* the busiest sources were raised last */
                if (mark_is(&t->v[k - 1], component, id->source, id->incarnation ?: ""))
                        return &t->v[k - 1];
        return NULL;
}

bool hwm_seen(const HwmTable *t, const char *component, const RouteId *id) {
        const Mark *k;

        assert(t);
        assert(id && id->source);
        k = find(t, component, id);
        return k && route_id_at_or_below(id, k->seq, k->rule);
}

size_t hwm_count(const HwmTable *t, const char *component) {
        size_t n = 0;

        for (size_t k = 0; k < t->n; k++)
                n += !component || streq(t->v[k].component, component);
        return n;
}

/* Past HWM_INCARNATIONS_MAX marks of one (component, source), the least recently raised goes. */
static void forget_old_incarnations(HwmTable *t, const char *component, const char *source) {
        size_t n = 0, oldest = SIZE_MAX;

        for (size_t k = 0; k < t->n; k++)
                if (streq(t->v[k].source, source) && streq(t->v[k].component, component)) {
                        if (oldest == SIZE_MAX)
                                oldest = k;
                        n++;
                }
        if (n <= HWM_INCARNATIONS_MAX)
                return;
        mark_done(&t->v[oldest]);
        memmove(t->v + oldest, t->v + oldest + 1, (t->n - oldest - 1) * sizeof *t->v);
        t->n--;
}

int hwm_set(HwmTable *t, const char *component, const RouteId *id) {
        Mark *k, m;

        assert(t);
        assert(component && id && id->source);
        k = find(t, component, id);
        if (k) {
                if (route_id_at_or_below(id, k->seq, k->rule))
                        return 0;
                m = *k;
                m.seq = id->seq;
                m.rule = id->rule;
                /* to the end: the most recently raised */
                memmove(k, k + 1, (size_t) (t->v + t->n - k - 1) * sizeof *k);
                t->v[t->n - 1] = m;
                return 1;
        }
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                Mark *v = reallocarray(t->v, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                t->v = v;
                t->cap = cap;
        }
        m = (Mark) { .component = strdup(component), .source = strdup(id->source),
                     .incarnation = strdup(id->incarnation ?: ""), .seq = id->seq, .rule = id->rule };
        if (!m.component || !m.source || !m.incarnation) {
                mark_done(&m);
                return -ENOMEM;
        }
        t->v[t->n++] = m;
        forget_old_incarnations(t, component, id->source);
        return 1;
}

/* ---- record forms --------------------------------------------------------- */

static void write_mark(FILE *f, const char *component, const char *source, const char *incarnation, uint64_t seq,
                       unsigned rule) {
        fputc('{', f);
        if (component) {
                fputs("\"component\":", f);
                json_write_string(f, component);
                fputc(',', f);
        }
        fputs("\"source\":", f);
        json_write_string(f, source);
        if (!isempty(incarnation)) {
                fputs(",\"incarnation\":", f);
                json_write_string(f, incarnation);
        }
        fprintf(f, ",\"seq\":%llu,\"rule\":%u}", (unsigned long long) seq, rule);
}

void hwm_write_one(FILE *f, const RouteId *id) {
        write_mark(f, NULL, id->source, id->incarnation, id->seq, id->rule);
}

void hwm_write_all(const HwmTable *t, const char *component, FILE *f) {
        bool first = true;

        fputc('[', f);
        for (size_t k = 0; k < t->n; k++) {
                const Mark *m = &t->v[k];
                if (!streq(m->component, component))
                        continue;
                if (!first)
                        fputc(',', f);
                write_mark(f, m->component, m->source, m->incarnation, m->seq, m->rule);
                first = false;
        }
        fputc(']', f);
}

static int read_mark(HwmTable *t, const char *component, json_object *o) {
        RouteId id = {
                .source = json_get_string(o, "source"),
                .incarnation = json_get_string(o, "incarnation") ?: "",
                .seq = json_get_uint64(o, "seq"),
                .rule = (unsigned) json_get_uint64(o, "rule"),
        };

        if (!id.source)
                return -EBADMSG;
        /* a snapshot's list names the component; it is the one recovered */
        return hwm_set(t, component, &id);
}

int hwm_read(HwmTable *t, const char *component, json_object *v) {
        int r = 0;

        if (json_object_is_type(v, json_type_object))
                return read_mark(t, component, v);
        if (!json_object_is_type(v, json_type_array))
                return -EBADMSG;
        for (size_t k = 0; k < json_object_array_length(v) && r >= 0; k++)
                r = read_mark(t, component, json_object_array_get_idx(v, k));
        return r;
}
