/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON helpers the daemon's record formats and the tools share: writing a
 * string as a JSON string, and reading typed members of a json-c object. */

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* s as a JSON string ("null" for NULL), escaped as RFC 8259 asks. */
void json_write_string(FILE *f, const char *s);

/* For _cleanup_(): drops the reference, if any. */
static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* Member key of o: a string (NULL if absent or not a string), an unsigned
 * integer (0 if absent or not a number). */
const char *json_get_string(json_object *o, const char *key);
uint64_t json_get_uint64(json_object *o, const char *key);
