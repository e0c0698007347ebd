/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xcomponent-ai's message and xfsm's routed wire form, each way (see
 * xcompat-wire.h). The message is written key by key, in xcomponent-ai's
 * order, as JSON.stringify writes it (no spaces, "/" not escaped). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "names.h"
#include "xcompat-wire.h"
#include "xfsm.h"

static const char *const bad_table[_XCOMPAT_BAD_MAX] = {
        [XCOMPAT_BAD_TOO_LARGE] = "too large",
        [XCOMPAT_BAD_NOT_JSON] = "not a JSON object in UTF-8",
        [XCOMPAT_BAD_WRONG_TYPE] = "a field missing or of the wrong type",
        [XCOMPAT_BAD_NAME] = "a name xfsm cannot carry",
};

const char *xcompat_bad_to_string(XcompatBad b) {
        return b >= 0 && b < _XCOMPAT_BAD_MAX ? bad_table[b] : "unknown";
}

static int bad(XcompatBad why, XcompatBad *ret_bad) {
        *ret_bad = why;
        return -EBADMSG;
}

/* key absent or null: *ret NULL and true; of type t: *ret and true; else false */
static bool get_optional(json_object *o, const char *key, json_type t, json_object **ret) {
        json_object *v = NULL;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return true;
        if (!json_object_is_type(v, t))
                return false;
        *ret = v;
        return true;
}

/* ---- JSON as JSON.parse takes it ---------------------------------------------------------
 * json-c reads more than JSON, even with JSON_TOKENER_STRICT: NaN, Infinity,
 * 'single quotes', control characters in strings, "1."; without it also
 * comments, trailing commas, leading zeros, TRUE. xcomponent-ai's JSON.parse
 * refuses all of those, and NaN would reach a context that must stay JSON: the
 * text is checked against JSON's grammar first (UTF-8 is json-c's check). */

#define STRICT_DEPTH_MAX 64

static void strict_ws(const char *s, size_t len, size_t *i) {
        while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
                (*i)++;
}

static bool strict_digits(const char *s, size_t len, size_t *i) {
        size_t start = *i;

        while (*i < len && s[*i] >= '0' && s[*i] <= '9')
                (*i)++;
        return *i > start;
}

static bool strict_number(const char *s, size_t len, size_t *i) {
        if (*i < len && s[*i] == '-')
                (*i)++;
        if (*i < len && s[*i] == '0')
                (*i)++;
        else if (*i >= len || s[*i] < '1' || s[*i] > '9' || !strict_digits(s, len, i))
                return false;
        if (*i < len && s[*i] == '.') {
                (*i)++;
                if (!strict_digits(s, len, i))
                        return false;
        }
        if (*i < len && (s[*i] == 'e' || s[*i] == 'E')) {
                (*i)++;
                if (*i < len && (s[*i] == '+' || s[*i] == '-'))
                        (*i)++;
                if (!strict_digits(s, len, i))
                        return false;
        }
        return true;
}

static bool strict_string(const char *s, size_t len, size_t *i) {
        if (*i >= len || s[*i] != '"')
                return false;
        for ((*i)++; *i < len; (*i)++) {
                unsigned char c = (unsigned char) s[*i];

                if (c == '"') {
                        (*i)++;
                        return true;
                }
                if (c < 0x20)
                        return false;
                if (c != '\\')
                        continue;
                if (++(*i) >= len)
                        return false;
                if (s[*i] == 'u') {
                        for (int k = 0; k < 4; k++)
                                if (++(*i) >= len || !strchr("0123456789abcdefABCDEF", s[*i]) || s[*i] == 0)
                                        return false;
                } else if (!strchr("\"\\/bfnrt", s[*i]) || s[*i] == 0)
                        return false;
        }
        return false;
}

static bool strict_value(const char *s, size_t len, size_t *i, unsigned depth) {
        static const char *const literals[] = { "true", "false", "null" };
        char open;

        strict_ws(s, len, i);
        if (*i >= len)
                return false;
        open = s[*i];
        if (open == '"')
                return strict_string(s, len, i);
        if (open == '-' || (open >= '0' && open <= '9'))
                return strict_number(s, len, i);
        if (open != '{' && open != '[') {
                for (size_t k = 0; k < ELEMENTSOF(literals); k++) {
                        size_t l = strlen(literals[k]);
                        if (len - *i >= l && memcmp(s + *i, literals[k], l) == 0) {
                                *i += l;
                                return true;
                        }
                }
                return false;
        }
        if (depth >= STRICT_DEPTH_MAX)
                return false;
        (*i)++;
        strict_ws(s, len, i);
        if (*i < len && s[*i] == (open == '{' ? '}' : ']')) {
                (*i)++;
                return true;
        }
        for (;;) {
                if (open == '{') {
                        strict_ws(s, len, i);
                        if (!strict_string(s, len, i))
                                return false;
                        strict_ws(s, len, i);
                        if (*i >= len || s[*i] != ':')
                                return false;
                        (*i)++;
                }
                if (!strict_value(s, len, i, depth + 1))
                        return false;
                strict_ws(s, len, i);
                if (*i >= len)
                        return false;
                if (s[*i] == (open == '{' ? '}' : ']')) {
                        (*i)++;
                        return true;
                }
                if (s[*i] != ',')
                        return false;
                (*i)++;
        }
}

/* Exactly one JSON value, white space around it allowed. */
static bool json_text_is_strict(const char *s, size_t len) {
        size_t i = 0;

        if (!strict_value(s, len, &i, 0))
                return false;
        strict_ws(s, len, &i);
        return i == len;
}

int xcompat_message_to_routed(const char *component, const char *message, size_t len, const char *incarnation,
                              json_object **ret, char **ret_source, XcompatBad *ret_bad) {
        _cleanup_(json_object_putp) json_object *m = NULL, *r = NULL;
        _cleanup_(freep) char *source = NULL;
        json_object *machine, *state, *event, *type, *payload, *timestamp, *filters, *src, *out;
        json_tokener *tok;

        if (len > XCOMPAT_MESSAGE_MAX)
                return bad(XCOMPAT_BAD_TOO_LARGE, ret_bad);
        if (!json_text_is_strict(message, len))
                return bad(XCOMPAT_BAD_NOT_JSON, ret_bad);
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        /* what goes on to the worker travels on the bus, which takes only UTF-8 */
        json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
        m = json_tokener_parse_ex(tok, message, (int) len);
        if (m && json_tokener_get_parse_end(tok) != len) {
                /* trailing text after the object */
                size_t k = json_tokener_get_parse_end(tok);
                while (k < len && (message[k] == ' ' || message[k] == '\t' || message[k] == '\r' || message[k] == '\n'))
                        k++;
                if (k < len) {
                        json_object_put(m);
                        m = NULL;
                }
        }
        json_tokener_free(tok);
        if (!m || !json_object_is_type(m, json_type_object))
                return bad(XCOMPAT_BAD_NOT_JSON, ret_bad);

        /* what xcomponent-ai reads; the channel, not targetComponent, names the component */
        if (!json_object_object_get_ex(m, "targetMachine", &machine) || !json_object_is_type(machine, json_type_string) ||
            !get_optional(m, "targetState", json_type_string, &state) ||
            !json_object_object_get_ex(m, "event", &event) || !json_object_is_type(event, json_type_object) ||
            !json_object_object_get_ex(event, "type", &type) || !json_object_is_type(type, json_type_string) ||
            !get_optional(event, "payload", json_type_object, &payload) ||
            !get_optional(m, "filters", json_type_array, &filters))
                return bad(XCOMPAT_BAD_WRONG_TYPE, ret_bad);
        /* xcomponent-ai's receivers ignore sourceComponent: one xfsm cannot name a source by
         * (not a string, spaces, too long) is "unknown", and the message goes on */
        if (!get_optional(m, "sourceComponent", json_type_string, &src) ||
            (src && (!name_is_event(json_object_get_string(src)) ||
                     (size_t) json_object_get_string_len(src) > 255 - strlen(XCOMPAT_SOURCE_PREFIX))))
                src = NULL;
        if (json_object_object_get_ex(event, "timestamp", &timestamp) && timestamp &&
            !json_object_is_type(timestamp, json_type_int) && !json_object_is_type(timestamp, json_type_double))
                return bad(XCOMPAT_BAD_WRONG_TYPE, ret_bad);
        if (!name_is_identifier(json_object_get_string(machine), 255) || !name_is_event(json_object_get_string(type)) ||
            (state && json_object_get_string_len(state) > 255))
                return bad(XCOMPAT_BAD_NAME, ret_bad);

        r = json_object_new_object();
        out = json_object_new_array();
        if (!r || !out) {
                json_object_put(out);
                return -ENOMEM;
        }
        for (size_t k = 0; filters && k < json_object_array_length(filters); k++) {
                json_object *f = json_object_array_get_idx(filters, k), *p, *op, *value, *x;

                if (!json_object_is_type(f, json_type_object) || !json_object_object_get_ex(f, "property", &p) ||
                    !json_object_is_type(p, json_type_string) ||
                    (json_object_object_get_ex(f, "operator", &op) && op && !json_object_is_type(op, json_type_string))) {
                        json_object_put(out);
                        return bad(XCOMPAT_BAD_WRONG_TYPE, ret_bad);
                }
                x = json_object_new_object();
                if (!x) {
                        json_object_put(out);
                        return -ENOMEM;
                }
                json_object_object_add(x, "property", json_object_get(p));
                if (op)
                        json_object_object_add(x, "operator", json_object_get(op));
                /* present, even null, is a value; absent is undefined */
                if (json_object_object_get_ex(f, "value", &value))
                        json_object_object_add(x, "value", json_object_get(value));
                json_object_array_add(out, x);
        }

        if (asprintf(&source, XCOMPAT_SOURCE_PREFIX "%s", src ? json_object_get_string(src) : "unknown") < 0)
                return -ENOMEM;

        json_object_object_add(r, "v", json_object_new_int(XFSM_ROUTED_WIRE_VERSION));
        json_object_object_add(r, "kind", json_object_new_string("event"));
        json_object_object_add(r, "sourceComponent", json_object_new_string(source));
        json_object_object_add(r, "sourceIncarnation", json_object_new_string(incarnation));
        json_object_object_add(r, "ruleIndex", json_object_new_int(0));
        json_object_object_add(r, "targetComponent", json_object_new_string(component));
        json_object_object_add(r, "targetMachine", json_object_get(machine));
        /* "*", "" or absent: every state, which the routed form says by no targetState */
        if (state && json_object_get_string_len(state) > 0 && !streq(json_object_get_string(state), "*"))
                json_object_object_add(r, "targetState", json_object_get(state));
        json_object_object_add(r, "event", json_object_get(type));
        json_object_object_add(r, "payload", payload ? json_object_get(payload) : json_object_new_object());
        json_object_object_add(r, "matchingRules", json_object_new_array());
        json_object_object_add(r, "filters", out);
        json_object_object_add(r, "hops", json_object_new_int(1));

        *ret = TAKE_PTR(r);
        *ret_source = TAKE_PTR(source);
        return 0;
}

static void write_value(FILE *f, json_object *v) {
        fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), f);
}

static void write_string(FILE *f, const char *s) {
        json_object *v = json_object_new_string(s);

        write_value(f, v); /* "null" when out of memory: the message is then refused by its reader */
        json_object_put(v);
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

int xcompat_routed_to_message(const char *routed_json, uint64_t timestamp_ms, char **ret) {
        _cleanup_(json_object_putp) json_object *r = json_tokener_parse(routed_json);
        _cleanup_(freep) char *out = NULL;
        json_object *rules = NULL, *payload = NULL, *v;
        const char *kind, *source, *target, *machine, *state, *event;
        size_t len = 0, n_rules;
        FILE *f;

        if (!r || !json_object_is_type(r, json_type_object))
                return -EBADMSG;
        kind = get_string(r, "kind");
        if (kind && streq(kind, "create"))
                return -EOPNOTSUPP;
        source = get_string(r, "sourceComponent");
        target = get_string(r, "targetComponent");
        machine = get_string(r, "targetMachine");
        state = get_string(r, "targetState");
        event = get_string(r, "event");
        if (!source || !target || !machine || !event)
                return -EBADMSG;
        if (json_object_object_get_ex(r, "payload", &v) && json_object_is_type(v, json_type_object))
                payload = v;
        if (json_object_object_get_ex(r, "matchingRules", &v) && json_object_is_type(v, json_type_array))
                rules = v;
        n_rules = rules ? json_object_array_length(rules) : 0;

        f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        fputs("{\"sourceComponent\":", f);
        write_string(f, source);
        fputs(",\"targetComponent\":", f);
        write_string(f, target);
        fputs(",\"targetMachine\":", f);
        write_string(f, machine);
        fputs(",\"targetState\":", f);
        write_string(f, state ?: "*");
        fputs(",\"event\":{\"type\":", f);
        write_string(f, event);
        fputs(",\"payload\":", f);
        if (payload)
                write_value(f, payload);
        else
                fputs("{}", f);
        fprintf(f, ",\"timestamp\":%llu}", (unsigned long long) timestamp_ms);
        /* as xcomponent-ai: no "filters" at all without matchingRules */
        if (n_rules > 0) {
                fputs(",\"filters\":[", f);
                for (size_t k = 0; k < n_rules; k++) {
                        json_object *rule = json_object_array_get_idx(rules, k);
                        const char *prop = get_string(rule, "instanceProperty"), *op = get_string(rule, "operator");

                        fprintf(f, "%s{\"property\":", k > 0 ? "," : "");
                        write_string(f, prop ?: "");
                        fputs(",\"operator\":", f);
                        write_string(f, op ?: "===");
                        /* the value the sender resolved; none (undefined) is no key */
                        if (json_object_object_get_ex(rule, "value", &v)) {
                                fputs(",\"value\":", f);
                                write_value(f, v);
                        }
                        fputc('}', f);
                }
                fputc(']', f);
        }
        fputc('}', f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}
