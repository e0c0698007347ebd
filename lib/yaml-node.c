/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "macro.h"
#include "yaml-node.h"

#define MAX_DEPTH 128
#define MAX_NODES 200000 /* aliases expand by copy: bounded */

typedef struct Anchor {
        char *name;
        Node *node;
} Anchor;

typedef struct Builder {
        Diag *d;
        Node *stack[MAX_DEPTH];
        size_t depth;
        Anchor *anchors;
        size_t n_anchors;
        size_t n_nodes;
        Node **spent; /* taken out of the tree (merge keys), freed at the end: anchors may name them */
        size_t n_spent;
        Node *root;
        bool failed;
} Builder;

Node *yaml_node_free(Node *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                yaml_node_free(n->children[i]);
        free(n->children);
        free(n->value);
        free(n);
        return NULL;
}

static Node *node_new(Builder *b, NodeKind kind, const yaml_mark_t *mark) {
        Node *n;

        if (++b->n_nodes > MAX_NODES) {
                diag_error(b->d, (unsigned) mark->line + 1, (unsigned) mark->column + 1,
                           "document too large (more than %d nodes, aliases included)", MAX_NODES);
                return NULL;
        }
        n = calloc(1, sizeof *n);
        if (!n)
                return NULL;
        n->kind = kind;
        n->line = (unsigned) mark->line + 1;
        n->column = (unsigned) mark->column + 1;
        return n;
}

static Node *node_copy(Builder *b, const Node *src, const yaml_mark_t *mark) {
        Node *n = node_new(b, src->kind, mark);
        if (!n)
                return NULL;
        n->line = src->line;
        n->column = src->column;
        n->plain = src->plain;
        if (src->value) {
                n->value = malloc(src->len + 1);
                if (!n->value)
                        return yaml_node_free(n);
                memcpy(n->value, src->value, src->len + 1);
                n->len = src->len;
        }
        if (src->n_children > 0) {
                n->children = calloc(src->n_children, sizeof *n->children);
                if (!n->children)
                        return yaml_node_free(n);
                for (size_t i = 0; i < src->n_children; i++) {
                        n->children[i] = node_copy(b, src->children[i], mark);
                        if (!n->children[i])
                                return yaml_node_free(n);
                        n->n_children++;
                }
        }
        return n;
}

static int node_append(Node *parent, Node *child) {
        Node **c = realloc(parent->children, (parent->n_children + 1) * sizeof *c);
        if (!c)
                return -ENOMEM;
        parent->children = c;
        parent->children[parent->n_children++] = child;
        return 0;
}

static int anchor_add(Builder *b, const char *name, Node *n) {
        Anchor *a;

        if (!name)
                return 0;
        a = realloc(b->anchors, (b->n_anchors + 1) * sizeof *a);
        if (!a)
                return -ENOMEM;
        b->anchors = a;
        a[b->n_anchors].name = strdup(name);
        if (!a[b->n_anchors].name)
                return -ENOMEM;
        a[b->n_anchors].node = n;
        b->n_anchors++;
        return 0;
}

static const Node *anchor_find(Builder *b, const char *name) {
        for (size_t i = b->n_anchors; i > 0; i--)
                if (streq(b->anchors[i - 1].name, name))
                        return b->anchors[i - 1].node;
        return NULL;
}

/* Attach a finished node to the container on top of the stack (or make it
 * the root). Checks map keys as they come. */
static int attach(Builder *b, Node *n) {
        Node *top;

        if (b->depth == 0) {
                if (!b->root)
                        b->root = n;
                else
                        yaml_node_free(n);
                return 0;
        }

        top = b->stack[b->depth - 1];
        if (top->kind == NODE_MAP && top->n_children % 2 == 0) {
                if (n->kind != NODE_SCALAR) {
                        diag_error(b->d, n->line, n->column, "mapping key must be a scalar");
                        b->failed = true;
                } else {
                        for (size_t i = 0; i < top->n_children; i += 2)
                                if (top->children[i]->kind == NODE_SCALAR && streq(top->children[i]->value, n->value)) {
                                        diag_error(b->d, n->line, n->column,
                                                   "duplicate key '%s' (first at line %u)", n->value,
                                                   top->children[i]->line);
                                        b->failed = true;
                                        break;
                                }
                }
        }
        if (node_append(top, n) < 0) {
                yaml_node_free(n);
                return -ENOMEM;
        }
        return 0;
}

static bool map_has_key(const Node *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n_children; i += 2)
                if (map->children[i]->kind == NODE_SCALAR && streq(map->children[i]->value, key))
                        return true;
        return false;
}

static int spend(Builder *b, Node *n) {
        Node **s = realloc(b->spent, (b->n_spent + 1) * sizeof *s);

        if (!s) {
                yaml_node_free(n);
                return -ENOMEM;
        }
        b->spent = s;
        b->spent[b->n_spent++] = n;
        return 0;
}

/* YAML's merge key, as js-yaml (xcomponent-ai's reader) applies it: in a
 * mapping, "<<: *anchor" (or a list of them, the first winning) adds every
 * pair of the merged mappings whose key the mapping does not have itself.
 * The merged pairs are copies (an anchor may name the mapping they come
 * from, or the merge key itself, for an alias further on) that keep the
 * position where they were written. */
static int merge_keys(Builder *b, Node *map) {
        for (size_t i = 0; i + 1 < map->n_children;) {
                Node *k = map->children[i], *v = map->children[i + 1];

                if (k->kind != NODE_SCALAR || !k->plain || !streq(k->value, "<<")) {
                        i += 2;
                        continue;
                }
                /* take the pair out, then add what it brings */
                memmove(map->children + i, map->children + i + 2, (map->n_children - i - 2) * sizeof *map->children);
                map->n_children -= 2;

                size_t n_src = v->kind == NODE_SEQ ? v->n_children : 1;
                int r = 0;
                yaml_mark_t mark = { .line = k->line - 1, .column = k->column - 1 };
                for (size_t s = 0; s < n_src && r == 0; s++) {
                        Node *src = v->kind == NODE_SEQ ? v->children[s] : v;

                        if (src->kind != NODE_MAP) {
                                diag_error(b->d, src->line, src->column,
                                           "merge key '<<' takes a mapping or a list of mappings");
                                b->failed = true;
                                break;
                        }
                        for (size_t j = 0; j + 1 < src->n_children && r == 0; j += 2) {
                                if (src->children[j]->kind != NODE_SCALAR ||
                                    map_has_key(map, src->children[j]->value))
                                        continue;
                                for (size_t c = j; c < j + 2 && r == 0; c++) {
                                        Node *copy = node_copy(b, src->children[c], &mark);

                                        if (!copy)
                                                r = b->n_nodes > MAX_NODES ? -EINVAL : -ENOMEM;
                                        else if (node_append(map, copy) < 0) {
                                                yaml_node_free(copy);
                                                r = -ENOMEM;
                                        }
                                }
                        }
                }
                if (spend(b, k) < 0)
                        r = -ENOMEM;
                if (spend(b, v) < 0)
                        r = -ENOMEM;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int push(Builder *b, Node *n, const yaml_mark_t *mark) {
        if (b->depth >= MAX_DEPTH) {
                diag_error(b->d, (unsigned) mark->line + 1, (unsigned) mark->column + 1,
                           "nesting deeper than %d levels", MAX_DEPTH);
                yaml_node_free(n);
                return -EINVAL;
        }
        b->stack[b->depth++] = n;
        return 0;
}

int yaml_node_parse(const char *data, size_t len, Diag *d, Node **ret) {
        yaml_parser_t parser;
        yaml_event_t ev;
        Builder b = { .d = d };
        bool done = false;
        int r = 0;
        unsigned n_docs = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) data, len);

        while (!done) {
                Node *n = NULL;

                if (!yaml_parser_parse(&parser, &ev)) {
                        const yaml_mark_t *m = &parser.problem_mark;
                        if (parser.context)
                                diag_error(d, (unsigned) m->line + 1, (unsigned) m->column + 1,
                                           "YAML syntax error: %s %s (at %zu:%zu)",
                                           parser.problem ? parser.problem : "unknown problem", parser.context,
                                           parser.context_mark.line + 1, parser.context_mark.column + 1);
                        else
                                diag_error(d, (unsigned) m->line + 1, (unsigned) m->column + 1,
                                           "YAML syntax error: %s", parser.problem ? parser.problem : "unknown problem");
                        r = -EINVAL;
                        break;
                }

                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++n_docs > 1) {
                                diag_error(d, (unsigned) ev.start_mark.line + 1, (unsigned) ev.start_mark.column + 1,
                                           "more than one YAML document: a component is one document");
                                r = -EINVAL;
                                done = true;
                        }
                        break;
                case YAML_SCALAR_EVENT:
                        n = node_new(&b, NODE_SCALAR, &ev.start_mark);
                        if (!n) {
                                r = b.n_nodes > MAX_NODES ? -EINVAL : -ENOMEM;
                                break;
                        }
                        n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                        n->len = ev.data.scalar.length;
                        n->value = malloc(n->len + 1);
                        if (!n->value) {
                                yaml_node_free(n);
                                r = -ENOMEM;
                                break;
                        }
                        memcpy(n->value, ev.data.scalar.value, n->len);
                        n->value[n->len] = 0;
                        if (anchor_add(&b, (const char *) ev.data.scalar.anchor, n) < 0) {
                                yaml_node_free(n);
                                r = -ENOMEM;
                        } else if (attach(&b, n) < 0)
                                r = -ENOMEM;
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        n = node_new(&b, ev.type == YAML_MAPPING_START_EVENT ? NODE_MAP : NODE_SEQ, &ev.start_mark);
                        if (!n) {
                                r = b.n_nodes > MAX_NODES ? -EINVAL : -ENOMEM;
                                break;
                        }
                        r = push(&b, n, &ev.start_mark);
                        if (r < 0)
                                break;
                        if (anchor_add(&b,
                                       (const char *) (ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.anchor
                                                                                        : ev.data.sequence_start.anchor),
                                       n) < 0)
                                r = -ENOMEM;
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        n = b.stack[--b.depth];
                        if (n->kind == NODE_MAP && (r = merge_keys(&b, n)) < 0)
                                yaml_node_free(n);
                        else if (attach(&b, n) < 0)
                                r = -ENOMEM;
                        break;
                case YAML_ALIAS_EVENT: {
                        const Node *src = anchor_find(&b, (const char *) ev.data.alias.anchor);
                        if (!src) {
                                diag_error(d, (unsigned) ev.start_mark.line + 1, (unsigned) ev.start_mark.column + 1,
                                           "unknown alias '*%s'", ev.data.alias.anchor);
                                r = -EINVAL;
                                break;
                        }
                        /* An anchor still open (recursive alias) has no end: refuse. */
                        for (size_t i = 0; i < b.depth; i++)
                                if (b.stack[i] == src) {
                                        diag_error(d, (unsigned) ev.start_mark.line + 1,
                                                   (unsigned) ev.start_mark.column + 1, "recursive alias '*%s'",
                                                   ev.data.alias.anchor);
                                        r = -EINVAL;
                                }
                        if (r < 0)
                                break;
                        n = node_copy(&b, src, &ev.start_mark);
                        if (!n) {
                                r = b.n_nodes > MAX_NODES ? -EINVAL : -ENOMEM;
                                break;
                        }
                        if (attach(&b, n) < 0)
                                r = -ENOMEM;
                        break;
                }
                default:
                        break;
                }
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }

        /* On failure, containers still open are not attached anywhere. */
        for (size_t i = 0; i < b.depth; i++)
                yaml_node_free(b.stack[i]);
        for (size_t i = 0; i < b.n_anchors; i++)
                free(b.anchors[i].name);
        free(b.anchors);
        for (size_t i = 0; i < b.n_spent; i++)
                yaml_node_free(b.spent[i]);
        free(b.spent);
        yaml_parser_delete(&parser);

        if (r == 0 && b.failed)
                r = -EINVAL;
        if (r < 0) {
                yaml_node_free(b.root);
                return r;
        }
        *ret = b.root;
        return 0;
}

Node *yaml_node_get(Node *map, const char *key) {
        if (!map || map->kind != NODE_MAP)
                return NULL;
        for (size_t i = 0; i + 1 < map->n_children; i += 2)
                if (map->children[i]->kind == NODE_SCALAR && streq(map->children[i]->value, key)) {
                        map->children[i]->used = true;
                        return map->children[i + 1];
                }
        return NULL;
}

bool yaml_scalar_is_null(const Node *n) {
        return n->kind == NODE_SCALAR && n->plain &&
               (n->len == 0 || streq(n->value, "~") || streq(n->value, "null") || streq(n->value, "Null") ||
                streq(n->value, "NULL"));
}

static json_object *scalar_to_json(const Node *n) {
        const char *v = n->value;
        char *end;

        if (!n->plain)
                return json_object_new_string_len(v, (int) n->len);
        if (yaml_scalar_is_null(n))
                return NULL;
        if (streq(v, "true") || streq(v, "True") || streq(v, "TRUE"))
                return json_object_new_boolean(1);
        if (streq(v, "false") || streq(v, "False") || streq(v, "FALSE"))
                return json_object_new_boolean(0);

        if ((v[0] >= '0' && v[0] <= '9') || ((v[0] == '-' || v[0] == '+') && v[1] >= '0' && v[1] <= '9')) {
                long long ll;
                double dd;

                errno = 0;
                ll = strtoll(v, &end, 10);
                if (*end == 0 && errno == 0)
                        return json_object_new_int64(ll);
                errno = 0;
                dd = strtod(v, &end);
                if (*end == 0 && errno == 0 && isfinite(dd) && !strpbrk(v, "xXpP"))
                        return json_object_new_double(dd);
        }
        return json_object_new_string_len(v, (int) n->len);
}

json_object *yaml_node_to_json(const Node *n) {
        json_object *o;

        if (!n)
                return NULL;
        switch (n->kind) {
        case NODE_SCALAR:
                return scalar_to_json(n);
        case NODE_SEQ:
                o = json_object_new_array_ext((int) n->n_children);
                for (size_t i = 0; o && i < n->n_children; i++)
                        json_object_array_add(o, yaml_node_to_json(n->children[i]));
                return o;
        case NODE_MAP:
                o = json_object_new_object();
                for (size_t i = 0; o && i + 1 < n->n_children; i += 2)
                        json_object_object_add(o, n->children[i]->value, yaml_node_to_json(n->children[i + 1]));
                return o;
        }
        return NULL;
}
