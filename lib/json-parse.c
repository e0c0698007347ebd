/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JSON text to json-c objects.
 *
 * json_tokener_parse_ex() puts the calling thread in a C numeric locale for
 * every call (so that strtod() reads "1.5" whatever the caller's locale):
 * duplocale() of the thread's locale, newlocale() over it, freelocale() at
 * the end, which for a three-key payload is about a fifth of the parse. When
 * the thread's locale is already the C locale object, glibc's duplocale()
 * and newlocale(LC_NUMERIC_MASK, "C", ...) return that same object without
 * allocating and freelocale() leaves it alone; so the engine parses with the
 * thread switched to it (uselocale(), per thread, nothing global) and puts
 * the thread's own locale back after. What json-c reads is the same either
 * way: only LC_NUMERIC matters to it, and it is "C" in both.
 *
 * Payloads are checked to be UTF-8 (JSON_TOKENER_VALIDATE_UTF8), which
 * json-c does on every byte it reads; a text of ASCII bytes only is UTF-8,
 * so for one the flag is left out, and the parse is the same. */

#include <locale.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json-parse.h"

static locale_t c_locale = (locale_t) 0;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

/* the process's one C locale object (glibc's own: nothing is allocated) */
static void c_locale_init(void) {
        c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
}

static bool is_ascii(const char *s, size_t len) {
        uint64_t any = 0, w;
        size_t k = 0;

        for (; k + 8 <= len; k += 8) {
                memcpy(&w, s + k, 8);
                any |= w;
        }
        for (; k < len; k++)
                any |= (unsigned char) s[k];
        return (any & 0x8080808080808080ULL) == 0;
}

json_object *json_parse_ex(json_tokener *tok, int flags, const char *s, size_t len) {
        json_object *o;
        locale_t old;

        if ((flags & JSON_TOKENER_VALIDATE_UTF8) && is_ascii(s, len))
                flags &= ~JSON_TOKENER_VALIDATE_UTF8;
        json_tokener_set_flags(tok, flags);

        (void) pthread_once(&c_locale_once, c_locale_init);
        if (c_locale == (locale_t) 0)
                return json_tokener_parse_ex(tok, s, (int) len); /* none: json-c makes its own */

        old = uselocale(c_locale);
        o = json_tokener_parse_ex(tok, s, (int) len);
        uselocale(old);
        return o;
}
