/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Pending timers of all instances, earliest first. Entries are not removed
 * when a timer is cancelled: the engine checks, when one comes due, that the
 * instance still holds that timer (by seq), and drops stale ones. */

#include <errno.h>
#include <stdlib.h>

#include "engine-internal.h"

static bool before(const HeapEntry *a, const HeapEntry *b) {
        return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

int heap_push(Heap *h, uint64_t deadline, uint64_t seq, xfsm_instance *inst) {
        size_t i;

        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 64;
                HeapEntry *v = realloc(h->v, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                h->v = v;
                h->cap = cap;
        }
        i = h->n++;
        h->v[i] = (HeapEntry) { deadline, seq, inst };
        while (i > 0) {
                size_t p = (i - 1) / 2;
                if (!before(&h->v[i], &h->v[p]))
                        break;
                HeapEntry t = h->v[p];
                h->v[p] = h->v[i];
                h->v[i] = t;
                i = p;
        }
        return 0;
}

bool heap_peek(const Heap *h, HeapEntry *ret) {
        if (h->n == 0)
                return false;
        *ret = h->v[0];
        return true;
}

void heap_pop(Heap *h) {
        size_t i = 0;

        if (h->n == 0)
                return;
        h->v[0] = h->v[--h->n];
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < h->n && before(&h->v[l], &h->v[m]))
                        m = l;
                if (r < h->n && before(&h->v[r], &h->v[m]))
                        m = r;
                if (m == i)
                        break;
                HeapEntry t = h->v[m];
                h->v[m] = h->v[i];
                h->v[i] = t;
                i = m;
        }
}

void heap_done(Heap *h) {
        free(h->v);
        *h = (Heap) {};
}
