/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON text written straight into a growing buffer: for the forms the engine
 * writes often (routed events, instance images, history), where building a
 * json-c object only to print it costs more than the step that made it. An
 * allocation failure is remembered and reported once, by json_buf_take(). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

typedef struct JsonBuf {
        char *p;
        size_t n, cap;
        bool oom;
} JsonBuf;

void json_buf_put(JsonBuf *b, const char *s, size_t len);
void json_buf_puts(JsonBuf *b, const char *s);
/* s as a JSON string: quoted, '"', '\\' and control characters escaped */
void json_buf_string(JsonBuf *b, const char *s);
void json_buf_u64(JsonBuf *b, uint64_t v);
/* v as json-c prints it, compact (NULL: null) */
void json_buf_json(JsonBuf *b, json_object *v);
/* "key": after a comma unless it is the object's first member (b ends in '{') */
void json_buf_key(JsonBuf *b, const char *key);
/* The text (NUL-terminated, the caller's to free), or NULL after a failure. */
char *json_buf_take(JsonBuf *b);
