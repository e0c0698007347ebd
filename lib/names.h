/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What names may hold: the loader checks definitions with these, the engine
 * checks what callers send. */

#include <stdbool.h>
#include <stddef.h>

/* [A-Za-z_][A-Za-z0-9_]*, at most max characters (component, machine, state) */
static inline bool name_is_identifier(const char *s, size_t max) {
        size_t n = 0;

        if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
                return false;
        for (; *s; s++, n++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                      *s == '_'))
                        return false;
        return n <= max;
}

/* an event name at all: 1-255 printable ASCII characters, no spaces */
static inline bool name_is_event(const char *s) {
        size_t n = 0;

        if (!s || !*s)
                return false;
        for (; *s; s++, n++)
                if (*s <= ' ' || *s >= 127)
                        return false;
        return n <= 255;
}
