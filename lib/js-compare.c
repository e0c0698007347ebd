/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JavaScript's === !== < > <= >= over JSON values (see js-compare.h): what
 * xcomponent-ai's filters do in Node, so that an xfsm node selects the same
 * instances from the same message. The relational operators follow
 * ECMAScript's IsLessThan: ToPrimitive, then strings by UTF-16 code units
 * or numbers, NaN making the answer undefined (false). */

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js-compare.h"
#include "macro.h"

typedef enum PrimKind {
        PRIM_UNDEFINED,
        PRIM_NULL,
        PRIM_BOOLEAN,
        PRIM_NUMBER,
        PRIM_STRING,
} PrimKind;

typedef struct Prim {
        PrimKind kind;
        bool boolean;
        double number;
        const char *s;
        size_t len;
        char *owned; /* s, when made here (an array or object as a string) */
} Prim;

/* ---- UTF-8 ---------------------------------------------------------------- */

/* The code point at s[*i] (advancing *i); an invalid byte stands for itself. */
static uint32_t utf8_next(const char *s, size_t len, size_t *i) {
        const unsigned char *p = (const unsigned char *) s + *i;
        size_t left = len - *i, n;
        uint32_t cp;

        if (p[0] < 0x80) {
                (*i)++;
                return p[0];
        }
        if ((p[0] & 0xe0) == 0xc0)
                n = 2, cp = p[0] & 0x1f;
        else if ((p[0] & 0xf0) == 0xe0)
                n = 3, cp = p[0] & 0x0f;
        else if ((p[0] & 0xf8) == 0xf0)
                n = 4, cp = p[0] & 0x07;
        else {
                (*i)++;
                return p[0];
        }
        if (left < n) {
                (*i)++;
                return p[0];
        }
        for (size_t k = 1; k < n; k++) {
                if ((p[k] & 0xc0) != 0x80) {
                        (*i)++;
                        return p[0];
                }
                cp = cp << 6 | (p[k] & 0x3f);
        }
        *i += n;
        return cp;
}

/* Compare two UTF-8 strings as JavaScript does: by their UTF-16 code units
 * (a code point past U+FFFF is two units, the first a high surrogate, so it
 * sorts before U+E000..U+FFFF, unlike in UTF-8 byte order). */
static int utf16_compare(const char *a, size_t alen, const char *b, size_t blen) {
        size_t i = 0, j = 0;
        uint32_t pa = 0, pb = 0; /* a low surrogate still to compare */

        for (;;) {
                uint32_t ua, ub;

                if (pa)
                        ua = pa, pa = 0;
                else if (i < alen) {
                        uint32_t cp = utf8_next(a, alen, &i);
                        if (cp >= 0x10000) {
                                ua = 0xd800 + ((cp - 0x10000) >> 10);
                                pa = 0xdc00 + ((cp - 0x10000) & 0x3ff);
                        } else
                                ua = cp;
                } else
                        ua = UINT32_MAX; /* ended */
                if (pb)
                        ub = pb, pb = 0;
                else if (j < blen) {
                        uint32_t cp = utf8_next(b, blen, &j);
                        if (cp >= 0x10000) {
                                ub = 0xd800 + ((cp - 0x10000) >> 10);
                                pb = 0xdc00 + ((cp - 0x10000) & 0x3ff);
                        } else
                                ub = cp;
                } else
                        ub = UINT32_MAX;

                if (ua == UINT32_MAX || ub == UINT32_MAX)
                        return ua == ub ? 0 : ua == UINT32_MAX ? -1 : 1;
                if (ua != ub)
                        return ua < ub ? -1 : 1;
        }
}

/* ---- StringToNumber ----------------------------------------------------------- */

static bool js_space(uint32_t cp) {
        switch (cp) {
        case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0xa0: case 0x1680:
        case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000: case 0xfeff:
                return true;
        default:
                return cp >= 0x2000 && cp <= 0x200a;
        }
}

static double parse_based(const char *s, size_t len, unsigned base) {
        double v = 0;

        if (len == 0)
                return NAN;
        for (size_t k = 0; k < len; k++) {
                unsigned d;
                char c = s[k];
                if (c >= '0' && c <= '9')
                        d = (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        d = (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        d = (unsigned) (c - 'A' + 10);
                else
                        return NAN;
                if (d >= base)
                        return NAN;
                v = v * base + d;
        }
        return v;
}

static bool all_digits(const char *s, size_t len, size_t *i) {
        size_t start = *i;

        while (*i < len && s[*i] >= '0' && s[*i] <= '9')
                (*i)++;
        return *i > start;
}

double js_string_to_number(const char *s, size_t len) {
        static locale_t c_locale;
        size_t start = 0, end = len, i;
        bool digits;
        char *copy;
        double v;

        /* trim JavaScript's white space and line terminators, both ends */
        while (start < end) {
                size_t k = start;
                if (!js_space(utf8_next(s, end, &k)))
                        break;
                start = k;
        }
        while (end > start) {
                size_t k = end - 1;
                while (k > start && ((unsigned char) s[k] & 0xc0) == 0x80)
                        k--;
                size_t n = k;
                if (!js_space(utf8_next(s, end, &n)) || n != end)
                        break;
                end = k;
        }
        s += start;
        len = end - start;
        if (len == 0)
                return 0;

        if (len > 2 && s[0] == '0') {
                switch (s[1]) {
                case 'x': case 'X':
                        return parse_based(s + 2, len - 2, 16);
                case 'o': case 'O':
                        return parse_based(s + 2, len - 2, 8);
                case 'b': case 'B':
                        return parse_based(s + 2, len - 2, 2);
                }
        }

        i = 0;
        if (s[0] == '+' || s[0] == '-')
                i++;
        if (len - i == 8 && memcmp(s + i, "Infinity", 8) == 0)
                return s[0] == '-' ? -INFINITY : INFINITY;
        digits = all_digits(s, len, &i);
        if (i < len && s[i] == '.') {
                i++;
                digits = all_digits(s, len, &i) || digits;
        }
        if (!digits)
                return NAN;
        if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                i++;
                if (i < len && (s[i] == '+' || s[i] == '-'))
                        i++;
                if (!all_digits(s, len, &i))
                        return NAN;
        }
        if (i != len)
                return NAN;

        /* the literal is checked: strtod reads it, in the C locale whatever the process's */
        copy = strndup(s, len);
        if (!copy)
                return NAN;
        if (!c_locale)
                c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
        v = c_locale ? strtod_l(copy, NULL, c_locale) : strtod(copy, NULL);
        free(copy);
        return v;
}

/* ---- ToPrimitive, ToNumber ------------------------------------------------------- */

/* JavaScript has one number type, a double: so are JSON integers to it (past 2^53 too) */
static double number_of(json_object *v) {
        return json_object_get_double(v);
}

/* Number::toString: the shortest digits that read back as d, laid out as
 * JavaScript lays them out (no exponent from 1e-6 up to 1e21). */
static void number_to_string(double d, FILE *f) {
        char buf[40], digits[20];
        int p, exp, k = 0, n;

        if (isnan(d)) {
                fputs("NaN", f);
                return;
        }
        if (isinf(d)) {
                fputs(d < 0 ? "-Infinity" : "Infinity", f);
                return;
        }
        if (d == 0) {
                fputc('0', f);
                return;
        }
        if (d < 0) {
                fputc('-', f);
                d = -d;
        }
        for (p = 1; p < 17; p++) {
                snprintf(buf, sizeof buf, "%.*e", p - 1, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        snprintf(buf, sizeof buf, "%.*e", p - 1, d);
        for (const char *c = buf; *c && *c != 'e'; c++)
                if (*c >= '0' && *c <= '9')
                        digits[k++] = *c;
        while (k > 1 && digits[k - 1] == '0')
                k--;
        digits[k] = 0;
        exp = atoi(strchr(buf, 'e') + 1);
        n = exp + 1;
        if (k <= n && n <= 21) {
                fputs(digits, f);
                for (int z = k; z < n; z++)
                        fputc('0', f);
        } else if (0 < n && n <= 21)
                fprintf(f, "%.*s.%s", n, digits, digits + n);
        else if (-6 < n && n <= 0) {
                fputs("0.", f);
                for (int z = n; z < 0; z++)
                        fputc('0', f);
                fputs(digits, f);
        } else
                fprintf(f, "%c%s%se%c%d", digits[0], k > 1 ? "." : "", digits + 1, n - 1 < 0 ? '-' : '+', abs(n - 1));
}

/* ToString of a JSON value as an element of an array being joined. */
static void to_string(json_object *v, FILE *f) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                break; /* null and undefined elements join as "" */
        case json_type_boolean:
                fputs(json_object_get_boolean(v) ? "true" : "false", f);
                break;
        case json_type_int:
        case json_type_double:
                number_to_string(number_of(v), f);
                break;
        case json_type_string:
                fwrite(json_object_get_string(v), 1, (size_t) json_object_get_string_len(v), f);
                break;
        case json_type_array:
                for (size_t k = 0; k < json_object_array_length(v); k++) {
                        if (k > 0)
                                fputc(',', f);
                        to_string(json_object_array_get_idx(v, k), f);
                }
                break;
        case json_type_object:
                fputs("[object Object]", f);
                break;
        }
}


static Prim to_primitive(JsValue x) {
        Prim p = {};
        size_t len = 0;
        FILE *f;

        if (!x.defined)
                return (Prim) { .kind = PRIM_UNDEFINED };
        switch (json_object_get_type(x.v)) {
        case json_type_null:
                return (Prim) { .kind = PRIM_NULL };
        case json_type_boolean:
                return (Prim) { .kind = PRIM_BOOLEAN, .boolean = json_object_get_boolean(x.v) };
        case json_type_int:
        case json_type_double:
                return (Prim) { .kind = PRIM_NUMBER, .number = number_of(x.v) };
        case json_type_string:
                return (Prim) { .kind = PRIM_STRING, .s = json_object_get_string(x.v),
                                .len = (size_t) json_object_get_string_len(x.v) };
        default:
                /* an array joins its elements, an object is "[object Object]" */
                p.kind = PRIM_STRING;
                f = open_memstream(&p.owned, &len);
                if (!f)
                        return (Prim) { .kind = PRIM_UNDEFINED }; /* out of memory: compares as NaN */
                to_string(x.v, f);
                if (fclose(f) != 0) {
                        free(p.owned);
                        return (Prim) { .kind = PRIM_UNDEFINED };
                }
                p.s = p.owned;
                p.len = len;
                return p;
        }
}

static double to_number(const Prim *p) {
        switch (p->kind) {
        case PRIM_NULL:
                return 0;
        case PRIM_BOOLEAN:
                return p->boolean ? 1 : 0;
        case PRIM_NUMBER:
                return p->number;
        case PRIM_STRING:
                return js_string_to_number(p->s, p->len);
        default:
                return NAN;
        }
}

/* ---- the operators ------------------------------------------------------------------ */

static bool strict_equal(JsValue a, JsValue b) {
        json_type ta, tb;

        if (!a.defined || !b.defined)
                return a.defined == b.defined;
        ta = json_object_get_type(a.v);
        tb = json_object_get_type(b.v);
        if ((ta == json_type_int || ta == json_type_double) && (tb == json_type_int || tb == json_type_double))
                return number_of(a.v) == number_of(b.v);
        if (ta != tb)
                return false;
        switch (ta) {
        case json_type_null:
                return true;
        case json_type_boolean:
                return json_object_get_boolean(a.v) == json_object_get_boolean(b.v);
        case json_type_string:
                return json_object_get_string_len(a.v) == json_object_get_string_len(b.v) &&
                       memcmp(json_object_get_string(a.v), json_object_get_string(b.v),
                              (size_t) json_object_get_string_len(a.v)) == 0;
        default:
                return false; /* two objects (arrays) parsed apart are never the same object */
        }
}

/* IsLessThan(a, b): 1 true, 0 false, -1 undefined (a NaN). */
static int less_than(JsValue a, JsValue b) {
        Prim pa = to_primitive(a), pb = to_primitive(b);
        double x, y;
        int r;

        if (pa.kind == PRIM_STRING && pb.kind == PRIM_STRING)
                r = utf16_compare(pa.s, pa.len, pb.s, pb.len) < 0;
        else {
                x = to_number(&pa);
                y = to_number(&pb);
                r = isnan(x) || isnan(y) ? -1 : x < y;
        }
        free(pa.owned);
        free(pb.owned);
        return r;
}

bool js_compare(JsValue a, MatchOp op, JsValue b) {
        switch (op) {
        case MATCH_EQ:
                return strict_equal(a, b);
        case MATCH_NE:
                return !strict_equal(a, b);
        case MATCH_LT:
                return less_than(a, b) == 1;
        case MATCH_GT:
                return less_than(b, a) == 1;
        case MATCH_LE:
                return less_than(b, a) == 0;
        case MATCH_GE:
                return less_than(a, b) == 0;
        }
        return false;
}
