/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-path.h"
#include "macro.h"

json_object *json_path_get(json_object *root, const char *path) {
        return json_path_lookup(root, path, NULL);
}

json_object *json_path_lookup(json_object *root, const char *path, bool *ret_found) {
        const char *p = path;
        json_object *cur = root;

        if (ret_found)
                *ret_found = false;
        if (!path || !*path || !root)
                return NULL;
        while (cur && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t) (dot - p) : strlen(p);
                char key[256];

                if (n == 0 || n >= sizeof key)
                        return NULL;
                memcpy(key, p, n);
                key[n] = 0;

                if (json_object_is_type(cur, json_type_object)) {
                        if (!json_object_object_get_ex(cur, key, &cur))
                                return NULL;
                } else if (json_object_is_type(cur, json_type_array)) {
                        char *end;
                        unsigned long idx = strtoul(key, &end, 10);
                        if (*end || idx >= json_object_array_length(cur))
                                return NULL;
                        cur = json_object_array_get_idx(cur, idx);
                } else
                        return NULL;
                p += n;
                if (*p == '.') {
                        p++;
                        if (!cur)
                                return NULL; /* through a null */
                }
        }
        if (ret_found)
                *ret_found = true;
        return cur;
}

json_object *json_event_property(json_object *payload, const char *path) {
        json_object *v = json_path_get(payload, path);
        if (v || !path)
                return v;
        if (strncmp(path, "payload.", 8) == 0 && !json_object_object_get_ex(payload, "payload", NULL))
                return json_path_get(payload, path + 8);
        return NULL;
}

json_object *json_mapping_source(json_object *context, json_object *payload, const char *path) {
        if (strncmp(path, "context.", 8) == 0 && !json_object_object_get_ex(context, "context", NULL))
                return json_path_get(context, path + 8);
        if (strncmp(path, "event.", 6) == 0 && !json_object_object_get_ex(context, "event", NULL))
                return json_event_property(payload, path + 6);
        if (strncmp(path, "payload.", 8) == 0 && !json_object_object_get_ex(context, "payload", NULL))
                return json_path_get(payload, path + 8);
        return json_path_get(context, path);
}

static bool template_exact(const char *s, size_t len, char *path, size_t size) {
        const char *a, *b;
        size_t n;

        if (len < 5 || memcmp(s, "{{", 2) != 0 || memcmp(s + len - 2, "}}", 2) != 0)
                return false;
        a = s + 2;
        b = s + len - 2;
        if (memmem(a, (size_t) (b - a), "{{", 2) || memmem(a, (size_t) (b - a), "}}", 2))
                return false;
        while (a < b && *a == ' ')
                a++;
        while (b > a && b[-1] == ' ')
                b--;
        n = (size_t) (b - a);
        if (n == 0 || n >= size)
                return false;
        memcpy(path, a, n);
        path[n] = 0;
        return true;
}

static json_object *render_string(const char *s, size_t len, json_object *ctx) {
        char path[256];
        const char *p = s, *open;
        char *out = NULL;
        size_t out_len = 0;
        FILE *f;
        json_object *r;

        if (template_exact(s, len, path, sizeof path))
                return json_object_get(json_path_get(ctx, path));
        if (!strstr(s, "{{"))
                return json_object_new_string_len(s, (int) len);

        f = open_memstream(&out, &out_len);
        if (!f)
                return NULL;
        while ((open = strstr(p, "{{"))) {
                const char *close = strstr(open + 2, "}}");
                if (!close)
                        break;
                fwrite(p, 1, (size_t) (open - p), f);
                if (template_exact(open, (size_t) (close + 2 - open), path, sizeof path)) {
                        json_object *v = json_path_get(ctx, path);
                        if (json_object_is_type(v, json_type_string))
                                fputs(json_object_get_string(v), f);
                        else if (v)
                                fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), f);
                } else
                        fwrite(open, 1, (size_t) (close + 2 - open), f);
                p = close + 2;
        }
        fputs(p, f);
        fclose(f);
        r = json_object_new_string_len(out, (int) out_len);
        free(out);
        return r;
}

json_object *json_template_render(json_object *tmpl, json_object *ctx) {
        json_object *r;

        switch (json_object_get_type(tmpl)) {
        case json_type_string:
                return render_string(json_object_get_string(tmpl), (size_t) json_object_get_string_len(tmpl), ctx);
        case json_type_object:
                r = json_object_new_object();
                if (r) {
                        json_object_object_foreach(tmpl, k, v) json_object_object_add(r, k, json_template_render(v, ctx));
                }
                return r;
        case json_type_array:
                r = json_object_new_array_ext((int) json_object_array_length(tmpl));
                for (size_t i = 0; i < json_object_array_length(tmpl); i++)
                        json_object_array_add(r, json_template_render(json_object_array_get_idx(tmpl, i), ctx));
                return r;
        default:
                return json_object_get(tmpl);
        }
}

typedef enum MemberKind {
        MEMBER_AS_IS,  /* not a string, or a string without {{: the value itself */
        MEMBER_PATH,   /* exactly {{path}}: what path names, with its JSON type */
        MEMBER_RENDER, /* anything else: json_template_render() */
} MemberKind;

typedef struct TemplateMember {
        const char *key;    /* the template's */
        json_object *value; /* the template's */
        MemberKind kind;
        bool dotted;        /* the path has more than one key */
        char *path;
} TemplateMember;

struct Template {
        json_object *tmpl;
        TemplateMember *members;
        size_t n_members;
};

Template *json_template_free(Template *t) {
        if (!t)
                return NULL;
        for (size_t k = 0; k < t->n_members; k++)
                free(t->members[k].path);
        free(t->members);
        json_object_put(t->tmpl);
        free(t);
        return NULL;
}

Template *json_template_compile(json_object *tmpl) {
        Template *t;
        size_t n = 0;

        if (!tmpl || !json_object_is_type(tmpl, json_type_object)) {
                json_object_put(tmpl);
                return NULL;
        }
        t = calloc(1, sizeof *t);
        if (!t) {
                json_object_put(tmpl);
                return NULL;
        }
        t->tmpl = tmpl;
        t->members = calloc(json_object_object_length(tmpl) ?: 1, sizeof *t->members);
        if (!t->members)
                return json_template_free(t);
        json_object_object_foreach(tmpl, key, value) {
                TemplateMember *m = &t->members[n++];
                const char *s = json_object_get_string(value);
                size_t len = (size_t) json_object_get_string_len(value);
                char path[256];

                t->n_members = n;
                m->key = key;
                m->value = value;
                if (!json_object_is_type(value, json_type_string))
                        m->kind = json_object_is_type(value, json_type_object) ||
                                                  json_object_is_type(value, json_type_array)
                                          ? MEMBER_RENDER
                                          : MEMBER_AS_IS;
                else if (template_exact(s, len, path, sizeof path)) {
                        m->kind = MEMBER_PATH;
                        m->dotted = strchr(path, '.') != NULL;
                        m->path = strdup(path);
                        if (!m->path)
                                return json_template_free(t);
                } else
                        m->kind = strstr(s, "{{") ? MEMBER_RENDER : MEMBER_AS_IS;
        }
        return t;
}

json_object *json_template_apply(const Template *t, json_object *ctx) {
        json_object *r = json_object_new_object();

        for (size_t k = 0; r && k < t->n_members; k++) {
                const TemplateMember *m = &t->members[k];
                json_object *v = NULL;

                switch (m->kind) {
                case MEMBER_AS_IS:
                        v = json_object_get(m->value);
                        break;
                case MEMBER_PATH:
                        if (m->dotted)
                                v = json_path_get(ctx, m->path);
                        else if (!ctx || !json_object_object_get_ex(ctx, m->path, &v))
                                v = NULL;
                        v = json_object_get(v);
                        break;
                case MEMBER_RENDER:
                        v = json_template_render(m->value, ctx);
                        break;
                }
                if (json_object_object_add_ex(r, m->key, v,
                                              JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT) < 0) {
                        json_object_put(v);
                        json_object_put(r);
                        r = NULL;
                }
        }
        return r;
}

static bool is_number(json_object *o) {
        return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

static int compare_numbers(json_object *a, json_object *b) {
        if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int)) {
                int64_t x = json_object_get_int64(a), y = json_object_get_int64(b);
                return (x > y) - (x < y);
        }
        double x = json_object_get_double(a), y = json_object_get_double(b);
        return (x > y) - (x < y);
}

bool json_match(json_object *iv, MatchOp op, json_object *ev) {
        int c;

        if (!iv || !ev)
                return false;
        if (is_number(iv) && is_number(ev))
                c = compare_numbers(iv, ev);
        else if (json_object_get_type(iv) != json_object_get_type(ev))
                return op == MATCH_NE;
        else if (json_object_is_type(iv, json_type_string))
                c = strcmp(json_object_get_string(iv), json_object_get_string(ev));
        else if (json_object_is_type(iv, json_type_boolean)) {
                c = json_object_get_boolean(iv) - json_object_get_boolean(ev);
                if (op != MATCH_EQ && op != MATCH_NE)
                        return false;
        } else {
                /* objects and arrays: equal only if the same text */
                if (op != MATCH_EQ && op != MATCH_NE)
                        return false;
                c = json_object_equal(iv, ev) ? 0 : 1;
        }

        switch (op) {
        case MATCH_EQ:
                return c == 0;
        case MATCH_NE:
                return c != 0;
        case MATCH_GT:
                return c > 0;
        case MATCH_LT:
                return c < 0;
        case MATCH_GE:
                return c >= 0;
        case MATCH_LE:
                return c <= 0;
        }
        return false;
}

bool json_rules_hold(const MatchingRule *rules, size_t n, json_object *payload, json_object *context) {
        for (size_t i = 0; i < n; i++)
                if (!json_match(json_path_get(context, rules[i].instance_property), rules[i].op,
                                json_event_property(payload, rules[i].event_property)))
                        return false;
        return true;
}

json_object *json_merge_shallow(json_object *a, json_object *b) {
        json_object *r = json_object_new_object();
        if (!r)
                return NULL;
        if (a) {
                json_object_object_foreach(a, k1, v1) json_object_object_add(r, k1, json_object_get(v1));
        }
        if (b) {
                json_object_object_foreach(b, k2, v2) json_object_object_add(r, k2, json_object_get(v2));
        }
        return r;
}
