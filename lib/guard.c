/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Guard expressions: a recursive-descent parser into an array of nodes, and a
 * tree-walking evaluator whose values borrow from the JSON they read. */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "macro.h"

#define MAX_NODES 1024
#define MAX_DEPTH 64
#define MAX_SEGMENTS 16

typedef enum Op {
        OP_NULL,
        OP_BOOL,
        OP_NUM,
        OP_STR,
        OP_PATH,
        OP_EXISTS,
        OP_NOT,
        OP_NEG,
        OP_AND,
        OP_OR,
        OP_EQ,
        OP_NE,
        OP_LT,
        OP_LE,
        OP_GT,
        OP_GE,
        OP_ADD,
        OP_SUB,
        OP_MUL,
        OP_DIV,
        OP_IN,
        OP_LIST,
} Op;

typedef enum Root {
        ROOT_CONTEXT,
        ROOT_EVENT,
} Root;

typedef struct GNode {
        Op op;
        int a, b;            /* operands; OP_IN: a = value, b = list */
        bool boolean;
        double num;
        char *str;           /* OP_STR (owned) */
        size_t len;
        Root root;           /* OP_PATH, OP_EXISTS */
        char *segs[MAX_SEGMENTS];
        unsigned n_segs;
        int *items;          /* OP_LIST */
        unsigned n_items;
} GNode;

struct Guard {
        GNode *v;
        unsigned n, cap;
        int root;
};

Guard *guard_free(Guard *g) {
        if (!g)
                return NULL;
        for (unsigned k = 0; k < g->n; k++) {
                free(g->v[k].str);
                for (unsigned s = 0; s < g->v[k].n_segs; s++)
                        free(g->v[k].segs[s]);
                free(g->v[k].items);
        }
        free(g->v);
        free(g);
        return NULL;
}

/* ---- parser ----------------------------------------------------------- */

typedef struct Parser {
        const char *text, *p;
        Guard *g;
        const char *error;
        size_t error_at;
        unsigned depth;
} Parser;

static int fail(Parser *ps, const char *at, const char *message) {
        if (!ps->error) {
                ps->error = message;
                ps->error_at = (size_t) (at - ps->text);
        }
        return -1;
}

static void skip_space(Parser *ps) {
        while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
                ps->p++;
}

static bool accept(Parser *ps, const char *tok) {
        size_t n = strlen(tok);
        skip_space(ps);
        if (strncmp(ps->p, tok, n) != 0)
                return false;
        /* "=" must not swallow "==" and so on: the longer token is asked first */
        ps->p += n;
        return true;
}

static bool is_ident_start(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool is_ident(char c) {
        return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool accept_word(Parser *ps, const char *word) {
        size_t n = strlen(word);
        skip_space(ps);
        if (strncmp(ps->p, word, n) != 0 || is_ident(ps->p[n]))
                return false;
        ps->p += n;
        return true;
}

static int node_new(Parser *ps, Op op, const char *at) {
        Guard *g = ps->g;
        if (g->n >= MAX_NODES)
                return fail(ps, at, "expression too long");
        if (g->n == g->cap) {
                unsigned cap = g->cap ? g->cap * 2 : 16;
                GNode *v = realloc(g->v, cap * sizeof *v);
                if (!v)
                        return fail(ps, at, "out of memory");
                g->v = v;
                g->cap = cap;
        }
        g->v[g->n] = (GNode) { .op = op, .a = -1, .b = -1 };
        return (int) g->n++;
}

static int parse_expr(Parser *ps);

static int parse_path(Parser *ps, Op op) {
        const char *start = ps->p;
        int k = node_new(ps, op, start);
        GNode *n;
        bool first = true;

        if (k < 0)
                return -1;
        n = &ps->g->v[k];
        n->root = ROOT_CONTEXT;
        for (;;) {
                const char *s = ps->p;
                char *seg;

                if (first || *ps->p == '.') {
                        if (!first)
                                ps->p++;
                        s = ps->p;
                        if (!is_ident_start(*ps->p))
                                return fail(ps, ps->p, "expected a name after '.'");
                        while (is_ident(*ps->p))
                                ps->p++;
                } else if (*ps->p == '[') {
                        ps->p++;
                        s = ps->p;
                        while (*ps->p >= '0' && *ps->p <= '9')
                                ps->p++;
                        if (s == ps->p || *ps->p != ']')
                                return fail(ps, ps->p, "expected an index and ']'");
                        ps->p++;
                } else
                        break;
                size_t len = (size_t) (ps->p - s) - (ps->p[-1] == ']' ? 1 : 0);
                n = &ps->g->v[k];
                if (first && len == 7 && strncmp(s, "context", 7) == 0) {
                        first = false;
                        continue;
                }
                if (first && len == 5 && strncmp(s, "event", 5) == 0) {
                        n->root = ROOT_EVENT;
                        first = false;
                        continue;
                }
                first = false;
                if (n->n_segs >= MAX_SEGMENTS)
                        return fail(ps, s, "path too long");
                seg = strndup(s, len);
                if (!seg)
                        return fail(ps, s, "out of memory");
                n->segs[n->n_segs++] = seg;
        }
        return k;
}

static int parse_string(Parser *ps) {
        char quote = *ps->p;
        const char *start = ps->p++;
        char *buf = malloc(strlen(ps->p) + 1);
        size_t len = 0;
        int k;

        if (!buf)
                return fail(ps, start, "out of memory");
        while (*ps->p && *ps->p != quote) {
                char c = *ps->p++;
                if (c == '\\') {
                        c = *ps->p++;
                        switch (c) {
                        case 'n':
                                c = '\n';
                                break;
                        case 't':
                                c = '\t';
                                break;
                        case '\\':
                        case '\'':
                        case '"':
                                break;
                        default:
                                free(buf);
                                return fail(ps, ps->p - 2, "unknown escape in string");
                        }
                }
                buf[len++] = c;
        }
        if (*ps->p != quote) {
                free(buf);
                return fail(ps, start, "unterminated string");
        }
        ps->p++;
        buf[len] = 0;
        k = node_new(ps, OP_STR, start);
        if (k < 0) {
                free(buf);
                return -1;
        }
        ps->g->v[k].str = buf;
        ps->g->v[k].len = len;
        return k;
}

static int parse_list(Parser *ps) {
        const char *start = ps->p;
        int k = node_new(ps, OP_LIST, start), item;
        int items[MAX_NODES];
        unsigned n = 0;

        if (k < 0)
                return -1;
        ps->p++; /* [ */
        skip_space(ps);
        if (*ps->p != ']')
                for (;;) {
                        item = parse_expr(ps);
                        if (item < 0)
                                return -1;
                        if (n >= MAX_NODES)
                                return fail(ps, ps->p, "list too long");
                        items[n++] = item;
                        if (accept(ps, ","))
                                continue;
                        break;
                }
        if (!accept(ps, "]"))
                return fail(ps, ps->p, "expected ',' or ']'");
        if (n > 0) {
                ps->g->v[k].items = malloc(n * sizeof(int));
                if (!ps->g->v[k].items)
                        return fail(ps, start, "out of memory");
                memcpy(ps->g->v[k].items, items, n * sizeof(int));
        }
        ps->g->v[k].n_items = n;
        return k;
}

static int parse_primary(Parser *ps) {
        const char *at;
        int k;

        skip_space(ps);
        at = ps->p;
        if (*at == '(') {
                ps->p++;
                k = parse_expr(ps);
                if (k < 0)
                        return -1;
                if (!accept(ps, ")"))
                        return fail(ps, ps->p, "expected ')'");
                return k;
        }
        if (*at == '\'' || *at == '"')
                return parse_string(ps);
        if (*at == '[')
                return parse_list(ps);
        if ((*at >= '0' && *at <= '9') || (*at == '.' && at[1] >= '0' && at[1] <= '9')) {
                char *end;
                double v = strtod(at, &end);
                if (end == at || is_ident(*end))
                        return fail(ps, at, "bad number");
                ps->p = end;
                k = node_new(ps, OP_NUM, at);
                if (k >= 0)
                        ps->g->v[k].num = v;
                return k;
        }
        if (accept_word(ps, "true") || accept_word(ps, "false")) {
                k = node_new(ps, OP_BOOL, at);
                if (k >= 0)
                        ps->g->v[k].boolean = at[0] == 't';
                return k;
        }
        if (accept_word(ps, "null") || accept_word(ps, "undefined"))
                return node_new(ps, OP_NULL, at);
        if (accept_word(ps, "exists")) {
                if (!accept(ps, "("))
                        return fail(ps, ps->p, "expected '(' after exists");
                skip_space(ps);
                if (!is_ident_start(*ps->p))
                        return fail(ps, ps->p, "exists() takes a path");
                k = parse_path(ps, OP_EXISTS);
                if (k < 0)
                        return -1;
                if (!accept(ps, ")"))
                        return fail(ps, ps->p, "expected ')'");
                return k;
        }
        if (is_ident_start(*at))
                return parse_path(ps, OP_PATH);
        if (!*at)
                return fail(ps, at, "expected an expression, found the end");
        return fail(ps, at, "expected an expression");
}

static int binary(Parser *ps, Op op, int a, int b, const char *at) {
        int k;
        if (a < 0 || b < 0)
                return -1;
        k = node_new(ps, op, at);
        if (k >= 0) {
                ps->g->v[k].a = a;
                ps->g->v[k].b = b;
        }
        return k;
}

static int parse_unary(Parser *ps) {
        const char *at;
        int k, a;

        if (++ps->depth > MAX_DEPTH)
                return fail(ps, ps->p, "expression nested too deeply");
        skip_space(ps);
        at = ps->p;
        if (*at == '!' && at[1] != '=') {
                ps->p++;
                a = parse_unary(ps);
                k = a < 0 ? -1 : node_new(ps, OP_NOT, at);
        } else if (*at == '-') {
                ps->p++;
                a = parse_unary(ps);
                k = a < 0 ? -1 : node_new(ps, OP_NEG, at);
        } else {
                ps->depth--;
                return parse_primary(ps);
        }
        if (k >= 0)
                ps->g->v[k].a = a;
        ps->depth--;
        return k;
}

static int parse_mul(Parser *ps) {
        int a = parse_unary(ps);
        while (a >= 0) {
                const char *at = (skip_space(ps), ps->p);
                if (accept(ps, "*"))
                        a = binary(ps, OP_MUL, a, parse_unary(ps), at);
                else if (accept(ps, "/"))
                        a = binary(ps, OP_DIV, a, parse_unary(ps), at);
                else
                        break;
        }
        return a;
}

static int parse_add(Parser *ps) {
        int a = parse_mul(ps);
        while (a >= 0) {
                const char *at = (skip_space(ps), ps->p);
                if (accept(ps, "+"))
                        a = binary(ps, OP_ADD, a, parse_mul(ps), at);
                else if (accept(ps, "-"))
                        a = binary(ps, OP_SUB, a, parse_mul(ps), at);
                else
                        break;
        }
        return a;
}

static int parse_rel(Parser *ps) {
        int a = parse_add(ps);
        while (a >= 0) {
                const char *at = (skip_space(ps), ps->p);
                if (accept(ps, "<="))
                        a = binary(ps, OP_LE, a, parse_add(ps), at);
                else if (accept(ps, ">="))
                        a = binary(ps, OP_GE, a, parse_add(ps), at);
                else if (accept(ps, "<"))
                        a = binary(ps, OP_LT, a, parse_add(ps), at);
                else if (accept(ps, ">"))
                        a = binary(ps, OP_GT, a, parse_add(ps), at);
                else if (accept_word(ps, "in")) {
                        skip_space(ps);
                        if (*ps->p != '[')
                                return fail(ps, ps->p, "expected '[' after in");
                        a = binary(ps, OP_IN, a, parse_list(ps), at);
                } else
                        break;
        }
        return a;
}

static int parse_eq(Parser *ps) {
        int a = parse_rel(ps);
        while (a >= 0) {
                const char *at = (skip_space(ps), ps->p);
                if (accept(ps, "===") || accept(ps, "=="))
                        a = binary(ps, OP_EQ, a, parse_rel(ps), at);
                else if (accept(ps, "!==") || accept(ps, "!="))
                        a = binary(ps, OP_NE, a, parse_rel(ps), at);
                else if (*at == '=' )
                        return fail(ps, at, "'=' is not a comparison: use '=='");
                else
                        break;
        }
        return a;
}

static int parse_and(Parser *ps) {
        int a = parse_eq(ps);
        while (a >= 0) {
                const char *at = (skip_space(ps), ps->p);
                if (accept(ps, "&&"))
                        a = binary(ps, OP_AND, a, parse_eq(ps), at);
                else
                        break;
        }
        return a;
}

static int parse_expr(Parser *ps) {
        int a;
        if (++ps->depth > MAX_DEPTH)
                return fail(ps, ps->p, "expression nested too deeply");
        a = parse_and(ps);
        while (a >= 0) {
                const char *at = (skip_space(ps), ps->p);
                if (accept(ps, "||"))
                        a = binary(ps, OP_OR, a, parse_and(ps), at);
                else
                        break;
        }
        ps->depth--;
        return a;
}

Guard *guard_parse(const char *text, size_t *ret_offset, const char **ret_message) {
        Parser ps = { .text = text, .p = text };
        int root;

        ps.g = calloc(1, sizeof *ps.g);
        if (!ps.g) {
                *ret_offset = 0;
                *ret_message = "out of memory";
                return NULL;
        }
        root = parse_expr(&ps);
        if (root >= 0) {
                skip_space(&ps);
                if (*ps.p)
                        root = fail(&ps, ps.p, *ps.p == '=' ? "'=' is not a comparison: use '=='"
                                                            : "unexpected text after the expression");
        }
        if (root < 0) {
                *ret_offset = ps.error_at;
                *ret_message = ps.error ?: "syntax error";
                return guard_free(ps.g);
        }
        ps.g->root = root;
        return ps.g;
}

/* ---- evaluation --------------------------------------------------------- */

typedef enum VType {
        V_NULL,
        V_BOOL,
        V_NUM,
        V_STR,
        V_JSON, /* an object or an array */
} VType;

typedef struct Val {
        VType t;
        bool b;
        double n;
        const char *s;
        size_t len;
        json_object *j;
} Val;

typedef struct Eval {
        const Guard *g;
        json_object *context, *payload;
        bool div_zero;
} Eval;

static Val from_json(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_boolean:
                return (Val) { .t = V_BOOL, .b = json_object_get_boolean(o) };
        case json_type_int:
        case json_type_double:
                return (Val) { .t = V_NUM, .n = json_object_get_double(o) };
        case json_type_string:
                return (Val) { .t = V_STR, .s = json_object_get_string(o), .len = (size_t) json_object_get_string_len(o) };
        case json_type_object:
        case json_type_array:
                return (Val) { .t = V_JSON, .j = o };
        default:
                return (Val) { .t = V_NULL };
        }
}

/* Walk a path: found (even if the value is null) or not. */
static bool lookup(const Eval *ev, const GNode *n, json_object **ret) {
        json_object *cur = n->root == ROOT_EVENT ? ev->payload : ev->context;
        unsigned s = 0;

        /* event.payload.x is x of the payload, unless the payload has a "payload" */
        if (n->root == ROOT_EVENT && n->n_segs > 0 && streq(n->segs[0], "payload") &&
            !json_object_object_get_ex(ev->payload, "payload", NULL))
                s = 1;
        for (; s < n->n_segs; s++) {
                if (json_object_is_type(cur, json_type_object)) {
                        if (!json_object_object_get_ex(cur, n->segs[s], &cur))
                                return false;
                } else if (json_object_is_type(cur, json_type_array)) {
                        char *end;
                        unsigned long i = strtoul(n->segs[s], &end, 10);
                        if (*end || i >= json_object_array_length(cur))
                                return false;
                        cur = json_object_array_get_idx(cur, i);
                } else
                        return false;
        }
        *ret = cur;
        return true;
}

static bool truthy(Val v) {
        switch (v.t) {
        case V_NULL:
                return false;
        case V_BOOL:
                return v.b;
        case V_NUM:
                return v.n != 0 && !isnan(v.n);
        case V_STR:
                return v.len > 0;
        case V_JSON:
                return true;
        }
        return false;
}

static bool equal(Val a, Val b) {
        if (a.t != b.t)
                return false;
        switch (a.t) {
        case V_NULL:
                return true;
        case V_BOOL:
                return a.b == b.b;
        case V_NUM:
                return a.n == b.n;
        case V_STR:
                return a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
        case V_JSON:
                return json_object_equal(a.j, b.j);
        }
        return false;
}

/* -1, 0, 1; 2 when the values cannot be ordered */
static int order(Val a, Val b) {
        if (a.t == V_NUM && b.t == V_NUM) {
                if (isnan(a.n) || isnan(b.n))
                        return 2;
                return (a.n > b.n) - (a.n < b.n);
        }
        if (a.t == V_STR && b.t == V_STR) {
                size_t n = a.len < b.len ? a.len : b.len;
                int c = memcmp(a.s, b.s, n);
                if (c == 0)
                        c = (a.len > b.len) - (a.len < b.len);
                return (c > 0) - (c < 0);
        }
        return 2;
}

static Val eval(Eval *ev, int k) {
        const GNode *n = &ev->g->v[k];
        Val a, b;
        json_object *o;
        int c;

        switch (n->op) {
        case OP_NULL:
                return (Val) { .t = V_NULL };
        case OP_BOOL:
                return (Val) { .t = V_BOOL, .b = n->boolean };
        case OP_NUM:
                return (Val) { .t = V_NUM, .n = n->num };
        case OP_STR:
                return (Val) { .t = V_STR, .s = n->str, .len = n->len };
        case OP_PATH:
                return lookup(ev, n, &o) ? from_json(o) : (Val) { .t = V_NULL };
        case OP_EXISTS:
                return (Val) { .t = V_BOOL, .b = lookup(ev, n, &o) };
        case OP_NOT:
                return (Val) { .t = V_BOOL, .b = !truthy(eval(ev, n->a)) };
        case OP_NEG:
                a = eval(ev, n->a);
                return a.t == V_NUM ? (Val) { .t = V_NUM, .n = -a.n } : (Val) { .t = V_NULL };
        case OP_AND:
                a = eval(ev, n->a);
                return truthy(a) ? eval(ev, n->b) : a;
        case OP_OR:
                a = eval(ev, n->a);
                return truthy(a) ? a : eval(ev, n->b);
        case OP_EQ:
                return (Val) { .t = V_BOOL, .b = equal(eval(ev, n->a), eval(ev, n->b)) };
        case OP_NE:
                return (Val) { .t = V_BOOL, .b = !equal(eval(ev, n->a), eval(ev, n->b)) };
        case OP_LT:
        case OP_LE:
        case OP_GT:
        case OP_GE:
                c = order(eval(ev, n->a), eval(ev, n->b));
                if (c == 2)
                        return (Val) { .t = V_BOOL, .b = false };
                return (Val) { .t = V_BOOL,
                               .b = n->op == OP_LT   ? c < 0
                                    : n->op == OP_LE ? c <= 0
                                    : n->op == OP_GT ? c > 0
                                                     : c >= 0 };
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
        case OP_DIV:
                a = eval(ev, n->a);
                b = eval(ev, n->b);
                if (a.t != V_NUM || b.t != V_NUM)
                        return (Val) { .t = V_NULL };
                if (n->op == OP_DIV && b.n == 0) {
                        ev->div_zero = true;
                        return (Val) { .t = V_NULL };
                }
                return (Val) { .t = V_NUM,
                               .n = n->op == OP_ADD   ? a.n + b.n
                                    : n->op == OP_SUB ? a.n - b.n
                                    : n->op == OP_MUL ? a.n * b.n
                                                      : a.n / b.n };
        case OP_IN: {
                const GNode *list = &ev->g->v[n->b];
                a = eval(ev, n->a);
                for (unsigned i = 0; i < list->n_items; i++)
                        if (equal(a, eval(ev, list->items[i])))
                                return (Val) { .t = V_BOOL, .b = true };
                return (Val) { .t = V_BOOL, .b = false };
        }
        case OP_LIST:
                return (Val) { .t = V_NULL };
        }
        return (Val) { .t = V_NULL };
}

GuardResult guard_eval(const Guard *g, json_object *context, json_object *payload) {
        Eval ev = { .g = g, .context = context, .payload = payload };
        bool r = truthy(eval(&ev, g->root));
        if (ev.div_zero)
                return GUARD_DIV_ZERO;
        return r ? GUARD_TRUE : GUARD_FALSE;
}

json_object *guard_eval_value(const Guard *g, json_object *context, json_object *payload, bool *ret_div_zero) {
        Eval ev = { .g = g, .context = context, .payload = payload };
        Val v = eval(&ev, g->root);

        if (ret_div_zero)
                *ret_div_zero = ev.div_zero;
        switch (v.t) {
        case V_BOOL:
                return json_object_new_boolean(v.b);
        case V_NUM:
                if (v.n == floor(v.n) && fabs(v.n) < 9007199254740992.0)
                        return json_object_new_int64((int64_t) v.n);
                return json_object_new_double(v.n);
        case V_STR:
                return json_object_new_string_len(v.s, (int) v.len);
        case V_JSON:
                return json_object_get(v.j);
        default:
                return NULL;
        }
}
