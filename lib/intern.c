/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Interned strings: one copy of each text for the whole engine, so that what
 * instances keep for a long time (the event and the states of every
 * transition in their history, history.c) is a pointer, not a copy. A string
 * stays until the engine goes, longer than the definition it came from
 * (Reload retires definitions), and knows its own length. The table is a set
 * with open addressing and linear probing; nothing is ever removed. */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "macro.h"

struct Interned {
        uint64_t hash;
        uint32_t len;
        char s[];
};

static uint64_t text_hash(const char *s, size_t len) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */

        for (size_t k = 0; k < len; k++)
                h = (h ^ (unsigned char) s[k]) * 1099511628211ULL;
        return h;
}

static const Interned *interned_of(const char *s) {
        return (const Interned *) (const void *) (s - offsetof(Interned, s));
}

size_t string_interned_len(const char *s) {
        assert(s);
        return interned_of(s)->len;
}

static int table_grow(StringTable *t) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        Interned **slots = calloc(cap, sizeof *slots);

        if (!slots)
                return -ENOMEM;
        for (size_t k = 0; k < t->cap; k++) {
                Interned *x = t->slots[k];
                if (!x)
                        continue;
                size_t j = x->hash & (cap - 1);
                while (slots[j])
                        j = (j + 1) & (cap - 1);
                slots[j] = x;
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
        return 0;
}

int string_intern(StringTable *t, const char *s, size_t len, const char **ret) {
        Interned *x;
        uint64_t h;
        size_t j;
        int r;

        assert(t);
        assert(s);
        assert(ret);

        if (len > UINT32_MAX)
                return -E2BIG;
        if ((t->n + 1) * 2 > t->cap) { /* at most half full: short probes */
                r = table_grow(t);
                if (r < 0)
                        return r;
        }

        h = text_hash(s, len);
        for (j = h & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
                x = t->slots[j];
                if (x->hash == h && x->len == len && memcmp(x->s, s, len) == 0) {
                        *ret = x->s;
                        return 0;
                }
        }

        x = malloc(offsetof(Interned, s) + len + 1);
        if (!x)
                return -ENOMEM;
        x->hash = h;
        x->len = (uint32_t) len;
        memcpy(x->s, s, len);
        x->s[len] = 0;
        t->slots[j] = x;
        t->n++;
        *ret = x->s;
        return 0;
}

void string_table_done(StringTable *t) {
        assert(t);

        for (size_t k = 0; k < t->cap; k++)
                free(t->slots[k]);
        free(t->slots);
        *t = (StringTable) {};
}
