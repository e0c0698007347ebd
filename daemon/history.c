/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* GetHistory: the last transitions of each instance (a ring of at most
 * history_limit entries), kept on the instance's userdata pointer. */

#include <stdio.h>
#include <stdlib.h>

#include "manager.h"

typedef struct Entry {
        const char *event, *from, *to; /* owned by the definitions */
        uint64_t at;                   /* ms since the epoch */
} Entry;

typedef struct History {
        unsigned n, head, cap;
        Entry v[];
} History;

void history_record(Manager *m, xfsm_instance *i, const char *event, const char *from, const char *to, uint64_t at) {
        History *h = xfsm_instance_get_userdata(i);

        if (m->history_limit == 0)
                return;
        if (!h || (h->n == h->cap && h->cap < m->history_limit)) {
                unsigned cap = h ? h->cap * 2 : 4;
                History *nh;
                if (cap > m->history_limit)
                        cap = m->history_limit;
                nh = realloc(h, sizeof *h + cap * sizeof(Entry));
                if (!nh)
                        return;
                if (!h)
                        nh->n = nh->head = 0;
                nh->cap = cap;
                h = nh;
                xfsm_instance_set_userdata(i, h);
        }
        if (h->n < h->cap)
                h->v[(h->head + h->n++) % h->cap] = (Entry) { event, from, to, at };
        else {
                h->v[h->head] = (Entry) { event, from, to, at };
                h->head = (h->head + 1) % h->cap;
        }
}

static void write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

char *history_json(xfsm_instance *i) {
        History *h = xfsm_instance_get_userdata(i);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fputc('[', f);
        for (unsigned k = 0; h && k < h->n; k++) {
                const Entry *e = &h->v[(h->head + k) % h->cap];
                fputs(k ? ",{\"event\":" : "{\"event\":", f);
                write_string(f, e->event);
                fputs(",\"from\":", f);
                write_string(f, e->from);
                fputs(",\"to\":", f);
                write_string(f, e->to);
                fprintf(f, ",\"at\":%llu}", (unsigned long long) e->at);
        }
        fputc(']', f);
        fclose(f);
        return buf;
}

void history_free(xfsm_instance *i) {
        free(xfsm_instance_get_userdata(i));
        xfsm_instance_set_userdata(i, NULL);
}
