/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JSON text into a growing buffer (see json-buf.h). */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-buf.h"
#include "macro.h"

void json_buf_put(JsonBuf *b, const char *s, size_t len) {
        if (b->oom)
                return;
        if (b->n + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->n + len + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, len);
        b->n += len;
        b->p[b->n] = 0;
}

void json_buf_puts(JsonBuf *b, const char *s) {
        json_buf_put(b, s, strlen(s));
}

void json_buf_string(JsonBuf *b, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const char *run = s;

        json_buf_put(b, "\"", 1);
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                char esc[7] = "\\u00";
                if (ch >= 0x20 && ch != '"' && ch != '\\')
                        continue;
                json_buf_put(b, run, (size_t) (s - run));
                run = s + 1;
                if (ch == '"' || ch == '\\') {
                        esc[1] = (char) ch;
                        json_buf_put(b, esc, 2);
                } else {
                        esc[4] = hex[ch >> 4];
                        esc[5] = hex[ch & 15];
                        json_buf_put(b, esc, 6);
                }
        }
        json_buf_put(b, run, (size_t) (s - run));
        json_buf_put(b, "\"", 1);
}

void json_buf_u64(JsonBuf *b, uint64_t v) {
        char num[24];
        int l = snprintf(num, sizeof num, "%" PRIu64, v);
        json_buf_put(b, num, (size_t) l);
}

void json_buf_json(JsonBuf *b, json_object *v) {
        size_t len = 0;
        const char *text = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &len);

        if (!text)
                b->oom = true;
        else
                json_buf_put(b, text, len);
}

void json_buf_key(JsonBuf *b, const char *key) {
        if (b->n > 0 && b->p[b->n - 1] != '{')
                json_buf_put(b, ",", 1);
        json_buf_string(b, key);
        json_buf_put(b, ":", 1);
}

char *json_buf_take(JsonBuf *b) {
        if (b->oom) {
                free(b->p);
                *b = (JsonBuf) {};
                return NULL;
        }
        return TAKE_PTR(b->p);
}
