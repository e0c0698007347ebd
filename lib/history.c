/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The transition history of an instance (xfsm_engine_set_history_limit()):
 * a ring of its last transitions, oldest first, at most `limit` entries
 * whose text (event, from and to) takes at most `max_bytes`; the oldest go
 * first. The strings are interned (intern.c), so an entry is three pointers
 * and a time. Entries are appended when a step commits, never undone.
 *
 * Also how a ring goes into an instance's image and comes back from it: a
 * key whose value is an array of [event, from, to, at] arrays, written
 * compact as the last key of the image ("log": the whole ring; "logAdded":
 * what one step appended), and GetHistory's form, an array of
 * {"event", "from", "to", "at"} objects. */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "json-buf.h"
#include "macro.h"

typedef struct HistoryEntry {
        const char *event, *from, *to; /* interned */
        uint64_t at;                   /* ms since the epoch */
} HistoryEntry;

struct History {
        uint32_t n, head, cap;
        size_t bytes; /* the text of the entries held */
        HistoryEntry v[];
};

History *history_free(History *h) {
        free(h);
        return NULL;
}

size_t history_n(const History *h) {
        return h ? h->n : 0;
}

/* The slot of the k-th entry, oldest first (k <= n < cap: no division). */
static size_t slot(const History *h, size_t k) {
        size_t s = h->head + k;
        return s >= h->cap ? s - h->cap : s;
}

static const HistoryEntry *entry_at(const History *h, size_t k) {
        return &h->v[slot(h, k)];
}

static size_t entry_bytes(const HistoryEntry *x) {
        return string_interned_len(x->event) + string_interned_len(x->from) + string_interned_len(x->to);
}

static void drop_oldest(History *h) {
        assert(h->n > 0);

        h->bytes -= entry_bytes(&h->v[h->head]);
        h->head = (uint32_t) slot(h, 1);
        h->n--;
}

/* A copy of h with room for cap entries, oldest first from slot 0. */
static History *relaid(const History *h, uint32_t cap) {
        History *c;

        assert(!h || h->n <= cap);

        c = malloc(sizeof *c + (size_t) cap * sizeof(HistoryEntry));
        if (!c)
                return NULL;
        *c = (History) { .cap = cap };
        for (size_t k = 0; h && k < h->n; k++)
                c->v[c->n++] = *entry_at(h, k);
        c->bytes = h ? h->bytes : 0;
        return c;
}

void history_trim(History **h, const HistoryLimits *lim) {
        History *c;

        assert(h);
        assert(lim);

        if (!*h)
                return;
        if (lim->limit == 0) {
                *h = history_free(*h);
                return;
        }
        while ((*h)->n > lim->limit || ((*h)->n > 0 && (*h)->bytes > lim->max_bytes))
                drop_oldest(*h);
        if ((*h)->cap > lim->limit && (c = relaid(*h, lim->limit))) { /* give back what the lower limit frees */
                free(*h);
                *h = c;
        }
}

static int append_entry(History **h, const HistoryEntry *x, const HistoryLimits *lim) {
        History *c = *h;

        assert(lim->limit > 0);

        while (c && c->n >= lim->limit)
                drop_oldest(c);
        if (!c || c->n == c->cap) {
                /* grows by doubling up to the limit: most instances see few transitions */
                uint64_t cap = c ? (uint64_t) c->cap * 2 : 2;
                if (cap > lim->limit)
                        cap = lim->limit;
                c = relaid(*h, (uint32_t) cap);
                if (!c)
                        return -ENOMEM;
                free(*h);
                *h = c;
        }
        c->v[slot(c, c->n)] = *x;
        c->n++;
        c->bytes += entry_bytes(x);
        while (c->n > 0 && c->bytes > lim->max_bytes)
                drop_oldest(c);
        return 0;
}

int history_record(History **h, StringTable *t, const char *event, const char *from, const char *to, uint64_t at,
                   const HistoryLimits *lim) {
        HistoryEntry x = { .at = at };
        int r;

        assert(h);
        assert(t);
        assert(lim);

        if (lim->limit == 0)
                return 0;
        if ((r = string_intern(t, event ?: "", strlen(event ?: ""), &x.event)) < 0 ||
            (r = string_intern(t, from ?: "", strlen(from ?: ""), &x.from)) < 0 ||
            (r = string_intern(t, to ?: "", strlen(to ?: ""), &x.to)) < 0)
                return r;
        return append_entry(h, &x, lim);
}

/* ---- JSON out -------------------------------------------------------------- */

/* The entries from the from-th on, as [[event,from,to,at],...]. */
static void put_entries(JsonBuf *b, const History *h, size_t from) {
        json_buf_put(b, "[", 1);
        for (size_t k = from; k < history_n(h); k++) {
                const HistoryEntry *x = entry_at(h, k);
                json_buf_puts(b, k > from ? ",[" : "[");
                json_buf_string(b, x->event);
                json_buf_put(b, ",", 1);
                json_buf_string(b, x->from);
                json_buf_put(b, ",", 1);
                json_buf_string(b, x->to);
                json_buf_put(b, ",", 1);
                json_buf_u64(b, x->at);
                json_buf_put(b, "]", 1);
        }
        json_buf_put(b, "]", 1);
}

char *history_to_json(const History *h) {
        JsonBuf b = {};

        json_buf_put(&b, "[", 1);
        for (size_t k = 0; k < history_n(h); k++) {
                const HistoryEntry *x = entry_at(h, k);
                json_buf_puts(&b, k > 0 ? ",{\"event\":" : "{\"event\":");
                json_buf_string(&b, x->event);
                json_buf_puts(&b, ",\"from\":");
                json_buf_string(&b, x->from);
                json_buf_puts(&b, ",\"to\":");
                json_buf_string(&b, x->to);
                json_buf_puts(&b, ",\"at\":");
                json_buf_u64(&b, x->at);
                json_buf_put(&b, "}", 1);
        }
        json_buf_put(&b, "]", 1);
        return json_buf_take(&b);
}

char *history_image(const char *image, size_t len, const char *key, const History *h, size_t from) {
        JsonBuf b = {};

        assert(image);
        assert(key);
        assert(len >= 2 && image[len - 1] == '}');

        json_buf_put(&b, image, len - 1);
        json_buf_puts(&b, len > 2 ? ",\"" : "\"");
        json_buf_puts(&b, key);
        json_buf_puts(&b, "\":");
        put_entries(&b, h, from);
        json_buf_put(&b, "}", 1);
        return json_buf_take(&b);
}

/* ---- JSON in ---------------------------------------------------------------- */

int history_append_json(History **h, StringTable *t, json_object *entries, const HistoryLimits *lim) {
        int r;

        assert(h);
        assert(t);
        assert(lim);

        if (lim->limit == 0 || !json_object_is_type(entries, json_type_array))
                return 0;
        for (size_t k = 0; k < json_object_array_length(entries); k++) {
                json_object *a = json_object_array_get_idx(entries, k), *s[3], *at;
                HistoryEntry x = {};
                const char **dst[3] = { &x.event, &x.from, &x.to };
                bool ok = json_object_is_type(a, json_type_array) && json_object_array_length(a) == 4;

                for (size_t j = 0; ok && j < 3; j++) {
                        s[j] = json_object_array_get_idx(a, j);
                        ok = json_object_is_type(s[j], json_type_string);
                }
                at = ok ? json_object_array_get_idx(a, 3) : NULL;
                if (!ok || !json_object_is_type(at, json_type_int))
                        continue; /* not written here: left out */
                for (size_t j = 0; j < 3; j++) {
                        r = string_intern(t, json_object_get_string(s[j]), (size_t) json_object_get_string_len(s[j]),
                                          dst[j]);
                        if (r < 0)
                                return r;
                }
                x.at = json_object_get_uint64(at);
                r = append_entry(h, &x, lim);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- text in: an image's array read here, not by json-c --------------------------
 *
 * json-c costs about a hundred instructions a byte, and history is most of
 * the bytes of an image once its instance has some: recovery hands it here
 * instead (see restore_record() in engine.c). Any valid JSON of the form
 * [["event","from","to",at],...] is read, not only the compact one written
 * above. */

typedef struct Cursor {
        const char *p, *end;
        char *scratch; /* where escapes are undone */
        size_t cap;
} Cursor;

static void cur_ws(Cursor *c) {
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
                c->p++;
}

static bool cur_eat(Cursor *c, char ch) {
        cur_ws(c);
        if (c->p < c->end && *c->p == ch) {
                c->p++;
                return true;
        }
        return false;
}

static int hex4(const char *p, const char *end, unsigned *ret) {
        unsigned v = 0;

        if (end - p < 4)
                return -EBADMSG;
        for (int k = 0; k < 4; k++) {
                char ch = p[k];
                v <<= 4;
                if (ch >= '0' && ch <= '9')
                        v |= (unsigned) (ch - '0');
                else if (ch >= 'a' && ch <= 'f')
                        v |= (unsigned) (ch - 'a' + 10);
                else if (ch >= 'A' && ch <= 'F')
                        v |= (unsigned) (ch - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static size_t utf8_put(char *out, unsigned cp) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* A string, interned: straight from the text when it has no escape (the
 * usual case), else through c->scratch. */
static int cur_string(Cursor *c, StringTable *t, const char **ret) {
        const char *start, *q;
        size_t n = 0;
        int r;

        if (!cur_eat(c, '"'))
                return -EBADMSG;
        start = c->p;
        for (q = start; q < c->end && *q != '"' && *q != '\\'; q++)
                ;
        if (q < c->end && *q == '"') {
                c->p = q + 1;
                return string_intern(t, start, (size_t) (q - start), ret);
        }

        /* an escape: undo them all (the text never grows by it, a \uXXXX pair gives at most 4 bytes) */
        for (q = start; q < c->end && *q != '"'; q += *q == '\\' && q + 1 < c->end ? 2 : 1)
                ;
        if (q >= c->end)
                return -EBADMSG;
        if ((size_t) (q - start) + 1 > c->cap) {
                char *b = realloc(c->scratch, (size_t) (q - start) + 1);
                if (!b)
                        return -ENOMEM;
                c->scratch = b;
                c->cap = (size_t) (q - start) + 1;
        }
        for (const char *p = start; p < q; p++) {
                unsigned cp, lo;
                if (*p != '\\') {
                        c->scratch[n++] = *p;
                        continue;
                }
                switch (*++p) {
                case '"':
                case '\\':
                case '/':
                        c->scratch[n++] = *p;
                        break;
                case 'b':
                        c->scratch[n++] = '\b';
                        break;
                case 'f':
                        c->scratch[n++] = '\f';
                        break;
                case 'n':
                        c->scratch[n++] = '\n';
                        break;
                case 'r':
                        c->scratch[n++] = '\r';
                        break;
                case 't':
                        c->scratch[n++] = '\t';
                        break;
                case 'u':
                        if ((r = hex4(p + 1, q, &cp)) < 0)
                                return r;
                        p += 4;
                        if (cp >= 0xd800 && cp < 0xdc00 && q - p > 6 && p[1] == '\\' && p[2] == 'u' &&
                            hex4(p + 3, q, &lo) >= 0 && lo >= 0xdc00 && lo < 0xe000) {
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                p += 6;
                        }
                        n += utf8_put(c->scratch + n, cp);
                        break;
                default:
                        return -EBADMSG;
                }
        }
        c->p = q + 1;
        return string_intern(t, c->scratch, n, ret);
}

static int cur_u64(Cursor *c, uint64_t *ret) {
        uint64_t v = 0;
        const char *start;

        cur_ws(c);
        start = c->p;
        for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*c->p - '0');
        }
        if (c->p == start)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int history_append_text(History **h, StringTable *t, const char *text, size_t len, const HistoryLimits *lim) {
        Cursor c = { .p = text, .end = text + len };
        int r = 0;

        assert(h);
        assert(t);
        assert(text);
        assert(lim);

        if (lim->limit == 0)
                return 0;
        if (!cur_eat(&c, '['))
                return -EBADMSG;
        if (cur_eat(&c, ']'))
                goto done;
        do {
                HistoryEntry x = {};
                if (!cur_eat(&c, '[') || (r = cur_string(&c, t, &x.event)) < 0 || !cur_eat(&c, ',') ||
                    (r = cur_string(&c, t, &x.from)) < 0 || !cur_eat(&c, ',') ||
                    (r = cur_string(&c, t, &x.to)) < 0 || !cur_eat(&c, ',') || (r = cur_u64(&c, &x.at)) < 0 ||
                    !cur_eat(&c, ']')) {
                        r = r < 0 ? r : -EBADMSG;
                        goto done;
                }
                if ((r = append_entry(h, &x, lim)) < 0)
                        goto done;
        } while (cur_eat(&c, ','));
        if (!cur_eat(&c, ']'))
                r = -EBADMSG;
done:
        free(c.scratch);
        return r;
}

/* ---- public accessors ---------------------------------------------------------- */

size_t xfsm_instance_n_history(const xfsm_instance *i) {
        assert(i);
        return history_n(i->log);
}

char *xfsm_instance_history_json(const xfsm_instance *i) {
        assert(i);
        return history_to_json(i->log);
}
