/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JSON helpers (see json-util.h). */

#include <stdio.h>

#include "json-util.h"

void json_write_string(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *) s, *run = p;

        if (!s) {
                fputs_unlocked("null", f);
                return;
        }
        fputc_unlocked('"', f);
        for (; *p; p++) {
                const char *esc;
                char buf[8];

                if (*p >= 0x20 && *p != '"' && *p != '\\')
                        continue;
                fwrite_unlocked(run, 1, (size_t) (p - run), f);
                run = p + 1;
                switch (*p) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                default:
                        snprintf(buf, sizeof buf, "\\u%04x", *p);
                        esc = buf;
                }
                fputs_unlocked(esc, f);
        }
        fwrite_unlocked(run, 1, (size_t) (p - run), f);
        fputc_unlocked('"', f);
}

const char *json_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

uint64_t json_get_uint64(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
                return 0;
        return json_object_get_uint64(v);
}
