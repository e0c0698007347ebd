/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The xcomponent dialect (xfsm.component(5)): YAML node tree -> Component, with
 * every structural check reported as FILE:LINE:COLUMN. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-path.h"
#include "macro.h"
#include "model.h"
#include "names.h"
#include "guard.h"
#include "yaml-load.h"
#include "yaml-node.h"

typedef struct Loader {
        Diag *d;
        Component *c;
} Loader;

/* ---- small helpers ---------------------------------------------------- */

static bool is_event_convention(const char *s) {
        if (!s || !(*s >= 'A' && *s <= 'Z'))
                return false;
        for (s++; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
                        return false;
        return true;
}

/* Where the byte at offset of a scalar's text was written: exact for plain
 * and quoted scalars on one line; otherwise counted through the newlines
 * (block scalars: their first line is the line after the indicator). */
static void node_offset_position(const Node *n, size_t offset, unsigned *ret_line, unsigned *ret_column) {
        const char *nl = memchr(n->value, '\n', n->len);
        unsigned line = n->line, column = n->column + (n->plain ? 0 : 1);

        if (!nl || (size_t) (nl - n->value) >= offset) {
                *ret_line = line;
                *ret_column = column + (unsigned) offset;
                return;
        }
        for (size_t k = 0; k < offset && k < n->len; k++)
                if (n->value[k] == '\n') {
                        line++;
                        column = 1;
                } else
                        column++;
        *ret_line = line;
        *ret_column = column;
}

/* Mark a key as known without looking at it (free maps, UI keys). */
static void accept_key(Node *map, const char *key) {
        (void) yaml_node_get(map, key);
}

static void warn_unknown_keys(Loader *l, Node *map, const char *what) {
        if (!map || map->kind != NODE_MAP)
                return;
        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                Node *k = map->children[i];
                if (!k->used)
                        diag_warning(l->d, k->line, k->column, "unknown key '%s' in %s, ignored", k->value, what);
        }
}

static bool expect_kind(Loader *l, const Node *n, NodeKind kind, const char *what) {
        static const char *const names[] = { "a scalar", "a mapping", "a list" };
        if (n->kind == kind)
                return true;
        diag_error(l->d, n->line, n->column, "%s must be %s", what, names[kind]);
        return false;
}

/* A scalar value as a string (NULL if absent). Missing & required: error at
 * the map. */
static int get_string(Loader *l, Node *map, const char *key, bool required, char **ret, Node **ret_node) {
        Node *n = yaml_node_get(map, key);

        *ret = NULL;
        if (ret_node)
                *ret_node = n;
        if (!n || yaml_scalar_is_null(n)) {
                if (required) {
                        diag_error(l->d, n ? n->line : map->line, n ? n->column : map->column,
                                   "missing required key '%s'", key);
                        return -EINVAL;
                }
                return 0;
        }
        if (!expect_kind(l, n, NODE_SCALAR, key))
                return -EINVAL;
        *ret = strdup(n->value);
        return *ret ? 1 : -ENOMEM;
}

static int get_bool(Loader *l, Node *map, const char *key, bool *ret) {
        Node *n = yaml_node_get(map, key);
        if (!n)
                return 0;
        if (n->kind == NODE_SCALAR && n->plain) {
                if (streq(n->value, "true") || streq(n->value, "True") || streq(n->value, "yes")) {
                        *ret = true;
                        return 1;
                }
                if (streq(n->value, "false") || streq(n->value, "False") || streq(n->value, "no")) {
                        *ret = false;
                        return 1;
                }
        }
        diag_error(l->d, n->line, n->column, "'%s' must be true or false", key);
        return -EINVAL;
}

static int get_ms(Loader *l, Node *map, const char *key, bool *ret_set, uint64_t *ret) {
        Node *n = yaml_node_get(map, key);
        char *end;
        unsigned long long v;

        if (!n)
                return 0;
        if (n->kind == NODE_SCALAR && n->plain && n->value[0] >= '0' && n->value[0] <= '9') {
                errno = 0;
                v = strtoull(n->value, &end, 10);
                if (*end == 0 && errno == 0 && v <= UINT64_MAX / 1000) {
                        *ret = v;
                        *ret_set = true;
                        return 1;
                }
        }
        diag_error(l->d, n->line, n->column, "'%s' must be a whole number of milliseconds", key);
        return -EINVAL;
}

/* A state name reference, resolved against the machine's states. */
static int resolve_state(Loader *l, const Machine *m, const Node *n, const char *what, unsigned *ret) {
        const State *s = machine_find_state(m, n->value);
        if (s) {
                *ret = s->index;
                return 0;
        }
        for (size_t i = 0; i < l->c->n_machines; i++) {
                const Machine *o = &l->c->machines[i];
                if (o != m && o->name && machine_find_state(o, n->value)) {
                        diag_error(l->d, n->line, n->column,
                                   "%s names unknown state '%s' in machine '%s' (machine '%s' has a state of that name)",
                                   what, n->value, m->name, o->name);
                        return -EINVAL;
                }
        }
        diag_error(l->d, n->line, n->column, "%s names unknown state '%s' in machine '%s'", what, n->value, m->name);
        return -EINVAL;
}

/* ---- pieces ------------------------------------------------------------ */

static const char *const op_names[] = {
        [MATCH_EQ] = "===", [MATCH_NE] = "!==", [MATCH_GT] = ">", [MATCH_LT] = "<", [MATCH_GE] = ">=", [MATCH_LE] = "<=",
};

static int parse_matching_rules(Loader *l, Node *n, MatchingRule **ret, size_t *ret_n) {
        MatchingRule *rules;
        size_t k = 0;
        int r = 0;

        if (!n || yaml_scalar_is_null(n))
                return 0;
        if (!expect_kind(l, n, NODE_SEQ, "matchingRules"))
                return -EINVAL;
        if (n->n_children == 0)
                return 0;
        rules = calloc(n->n_children, sizeof *rules);
        if (!rules)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_children; i++) {
                Node *item = n->children[i];
                MatchingRule *mr = &rules[k];
                char *op = NULL;
                Node *opn;

                if (!expect_kind(l, item, NODE_MAP, "a matching rule")) {
                        r = -EINVAL;
                        continue;
                }
                if (get_string(l, item, "eventProperty", true, &mr->event_property, NULL) < 0 ||
                    get_string(l, item, "instanceProperty", true, &mr->instance_property, NULL) < 0 ||
                    get_string(l, item, "operator", false, &op, &opn) < 0) {
                        free(mr->event_property);
                        free(mr->instance_property);
                        *mr = (MatchingRule) {};
                        r = -EINVAL;
                        continue;
                }
                mr->op = MATCH_EQ;
                if (op) {
                        bool found = false;
                        for (size_t j = 0; j < ELEMENTSOF(op_names); j++)
                                if (streq(op, op_names[j])) {
                                        mr->op = (MatchOp) j;
                                        found = true;
                                }
                        if (streq(op, "==")) {
                                mr->op = MATCH_EQ;
                                found = true;
                        } else if (streq(op, "!=")) {
                                mr->op = MATCH_NE;
                                found = true;
                        }
                        if (!found) {
                                diag_error(l->d, opn->line, opn->column,
                                           "unknown operator '%s' (expected ===, !==, >, <, >= or <=)", op);
                                r = -EINVAL;
                        }
                        free(op);
                }
                warn_unknown_keys(l, item, "a matching rule");
                k++;
        }
        *ret = rules;
        *ret_n = k;
        return r;
}

/* ---- actions ---------------------------------------------------------- */

static int parse_expression(Loader *l, Node *n, const char *what, struct Guard **ret) {
        size_t offset = 0;
        const char *message = NULL;

        if (!expect_kind(l, n, NODE_SCALAR, what))
                return -EINVAL;
        *ret = guard_parse(n->value, &offset, &message);
        if (!*ret) {
                unsigned line, column;
                node_offset_position(n, offset, &line, &column);
                diag_error(l->d, line, column, "bad %s: %s", what, message);
                return -EINVAL;
        }
        return 0;
}

static bool is_unit_name(const char *s) {
        size_t n = strlen(s);
        const char *dot = strrchr(s, '.');
        if (n == 0 || n > 255 || !dot || dot == s || !dot[1])
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                      strchr(":-_.\\@", *p)))
                        return false;
        return true;
}

static int parse_action(Loader *l, Node *n, Action *a) {
        Node *v;
        int r = 0;

        a->line = n->line;
        a->column = n->column;
        if (n->kind == NODE_SCALAR) {
                a->kind = ACTION_METHOD;
                a->name = strdup(n->value);
                return a->name ? 0 : -ENOMEM;
        }
        if (n->kind != NODE_MAP || n->n_children != 2) {
                diag_error(l->d, n->line, n->column,
                           "an action is a method name or one of assign, send, cancel, unit, exec");
                return -EINVAL;
        }
        const char *kind = n->children[0]->value;
        v = n->children[1];
        n->children[0]->used = true;

        if (streq(kind, "assign")) {
                a->kind = ACTION_ASSIGN;
                if (!expect_kind(l, v, NODE_MAP, "assign"))
                        return -EINVAL;
                a->assigns = calloc(v->n_children / 2 + 1, sizeof *a->assigns);
                if (!a->assigns)
                        return -ENOMEM;
                for (size_t k = 0; k + 1 < v->n_children; k += 2) {
                        Assign *as = &a->assigns[a->n_assigns];
                        if (parse_expression(l, v->children[k + 1], "assign expression", &as->expr) < 0) {
                                r = -EINVAL;
                                continue;
                        }
                        as->key = strdup(v->children[k]->value);
                        a->n_assigns++;
                }
                return r;
        }
        if (streq(kind, "send")) {
                char *to = NULL;
                Node *to_node, *p;
                a->kind = ACTION_SEND;
                if (!expect_kind(l, v, NODE_MAP, "send"))
                        return -EINVAL;
                if (get_string(l, v, "event", true, &a->event, NULL) < 0 ||
                    get_string(l, v, "to", false, &to, &to_node) < 0 ||
                    get_string(l, v, "id", false, &a->send_id, NULL) < 0 ||
                    get_ms(l, v, "delayMs", &a->has_delay, &a->delay_ms) < 0 ||
                    parse_matching_rules(l, yaml_node_get(v, "matchingRules"), &a->rules, &a->n_rules) < 0)
                        r = -EINVAL;
                if (a->event && !name_is_event(a->event)) {
                        diag_error(l->d, v->line, v->column, "event name '%s' is not valid", a->event);
                        r = -EINVAL;
                }
                if (!to || streq(to, "self"))
                        a->to = SEND_SELF;
                else if (streq(to, "parent"))
                        a->to = SEND_PARENT;
                else {
                        const char *dot = strchr(to, '.');
                        a->to = dot ? SEND_COMPONENT : SEND_MACHINE;
                        a->to_component = dot ? strndup(to, (size_t) (dot - to)) : NULL;
                        a->to_machine = strdup(dot ? dot + 1 : to);
                        if (!name_is_identifier(a->to_machine, XFSM_MAX_NAME) ||
                            (dot && !name_is_identifier(a->to_component, 64))) {
                                diag_error(l->d, to_node->line, to_node->column,
                                           "send 'to' must be self, parent, Machine or Component.Machine, not '%s'",
                                           to);
                                r = -EINVAL;
                        }
                        /* the machine is checked once all machines are read */
                        a->line = to_node->line;
                        a->column = to_node->column;
                }
                free(to);
                p = yaml_node_get(v, "payload");
                if (p && !yaml_scalar_is_null(p)) {
                        if (!expect_kind(l, p, NODE_MAP, "payload"))
                                r = -EINVAL;
                        else if (!(a->payload = json_template_compile(yaml_node_to_json(p))))
                                r = -ENOMEM;
                }
                if (a->send_id && !a->has_delay)
                        diag_warning(l->d, v->line, v->column,
                                     "send id '%s' without delayMs: there is nothing to cancel", a->send_id);
                warn_unknown_keys(l, v, "send");
                return r;
        }
        if (streq(kind, "cancel")) {
                a->kind = ACTION_CANCEL;
                if (!expect_kind(l, v, NODE_SCALAR, "cancel"))
                        return -EINVAL;
                a->name = strdup(v->value);
                return a->name ? 0 : -ENOMEM;
        }
        if (streq(kind, "unit")) {
                a->kind = ACTION_UNIT;
                if (!expect_kind(l, v, NODE_MAP, "unit"))
                        return -EINVAL;
                for (const char *const *verb = (const char *const[]) { "start", "stop", "restart", NULL }; *verb;
                     verb++) {
                        Node *u;
                        char *name = NULL;
                        if (get_string(l, v, *verb, false, &name, &u) < 0)
                                return -EINVAL;
                        if (!name)
                                continue;
                        if (a->verb) {
                                diag_error(l->d, u->line, u->column, "a unit action takes one of start, stop, restart");
                                free(name);
                                return -EINVAL;
                        }
                        if (!is_unit_name(name)) {
                                diag_error(l->d, u->line, u->column, "'%s' is not a unit name (like foo.service)",
                                           name);
                                free(name);
                                return -EINVAL;
                        }
                        a->verb = strdup(*verb);
                        a->name = name;
                }
                if (!a->verb) {
                        diag_error(l->d, v->line, v->column, "a unit action needs start, stop or restart: NAME");
                        return -EINVAL;
                }
                warn_unknown_keys(l, v, "unit");
                return 0;
        }
        if (streq(kind, "exec")) {
                Node *argv;
                bool set = false;
                a->kind = ACTION_EXEC;
                if (!expect_kind(l, v, NODE_MAP, "exec"))
                        return -EINVAL;
                argv = yaml_node_get(v, "argv");
                if (!argv || argv->kind != NODE_SEQ || argv->n_children == 0) {
                        diag_error(l->d, argv ? argv->line : v->line, argv ? argv->column : v->column,
                                   "exec needs 'argv', a non-empty list");
                        return -EINVAL;
                }
                a->argv = calloc(argv->n_children + 1, sizeof *a->argv);
                if (!a->argv)
                        return -ENOMEM;
                for (size_t k = 0; k < argv->n_children; k++) {
                        if (!expect_kind(l, argv->children[k], NODE_SCALAR, "an argv element"))
                                return -EINVAL;
                        a->argv[k] = strdup(argv->children[k]->value);
                }
                if (argv->children[0]->value[0] != '/') {
                        diag_error(l->d, argv->children[0]->line, argv->children[0]->column,
                                   "exec argv[0] must be an absolute path, not '%s'", argv->children[0]->value);
                        r = -EINVAL;
                }
                if (get_ms(l, v, "timeoutMs", &set, &a->timeout_ms) < 0)
                        r = -EINVAL;
                if (!set)
                        a->timeout_ms = 60000;
                warn_unknown_keys(l, v, "exec");
                return r;
        }
        diag_error(l->d, n->children[0]->line, n->children[0]->column,
                   "unknown action '%s' (expected assign, send, cancel, unit or exec)", kind);
        return -EINVAL;
}

static int parse_actions(Loader *l, Node *n, const char *key, Action **ret, size_t *ret_n) {
        Action *list;
        size_t k = 0;
        int r = 0;

        if (!n || yaml_scalar_is_null(n))
                return 0;
        if (n->kind == NODE_MAP) {
                diag_error(l->d, n->line, n->column, "'%s' must be a method name or a list of actions", key);
                return -EINVAL;
        }
        size_t count = n->kind == NODE_SEQ ? n->n_children : 1;
        list = calloc(count ? count : 1, sizeof *list);
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                if (parse_action(l, n->kind == NODE_SEQ ? n->children[i] : n, &list[k]) < 0)
                        r = -EINVAL;
                k++;
        }
        *ret = list;
        *ret_n = k;
        return r;
}

static int parse_cascade(Loader *l, Node *n, CascadingRule *cr) {
        int r = 0;

        if (!expect_kind(l, n, NODE_MAP, "a cascading rule"))
                return -EINVAL;
        cr->line = n->line;
        cr->column = n->column;
        if (get_string(l, n, "targetComponent", false, &cr->target_component, NULL) < 0)
                r = -EINVAL;
        if (get_string(l, n, "targetMachine", true, &cr->target_machine, NULL) < 0)
                r = -EINVAL;
        Node *ts;
        if (get_string(l, n, "targetState", true, &cr->target_state, &ts) < 0)
                r = -EINVAL;
        else {
                cr->state_line = ts->line;
                cr->state_column = ts->column;
        }
        if (get_string(l, n, "event", true, &cr->event, NULL) < 0)
                r = -EINVAL;
        if (parse_matching_rules(l, yaml_node_get(n, "matchingRules"), &cr->rules, &cr->n_rules) < 0)
                r = -EINVAL;
        Node *p = yaml_node_get(n, "payload");
        if (p && !yaml_scalar_is_null(p)) {
                if (!expect_kind(l, p, NODE_MAP, "payload"))
                        r = -EINVAL;
                else if (!(cr->payload = json_template_compile(yaml_node_to_json(p))))
                        r = -ENOMEM;
        }
        accept_key(n, "description");
        accept_key(n, "metadata");
        warn_unknown_keys(l, n, "a cascading rule");
        return r;
}

static int parse_state(Loader *l, Node *n, State *s) {
        Node *name_node, *type_node, *casc;
        char *type = NULL;
        int r = 0;

        s->line = n->line;
        s->column = n->column;
        if (get_string(l, n, "name", true, &s->name, &name_node) < 0)
                r = -EINVAL;
        else if (!name_is_identifier(s->name, XFSM_MAX_NAME)) {
                diag_error(l->d, name_node->line, name_node->column,
                           "state name '%s' must match [A-Za-z_][A-Za-z0-9_]*", s->name);
                r = -EINVAL;
        }
        if (name_node) {
                s->line = name_node->line;
                s->column = name_node->column;
        }

        if (get_string(l, n, "type", false, &type, &type_node) < 0)
                r = -EINVAL;
        s->type = STATE_REGULAR;
        if (type) {
                if (streq(type, "entry"))
                        s->type = STATE_ENTRY;
                else if (streq(type, "regular"))
                        s->type = STATE_REGULAR;
                else if (streq(type, "final"))
                        s->type = STATE_FINAL;
                else if (streq(type, "error"))
                        s->type = STATE_ERROR;
                else if (streq(type, "parallel"))
                        s->parallel = true;
                else {
                        diag_error(l->d, type_node->line, type_node->column,
                                   "unknown state type '%s' (expected entry, regular, final, error or parallel)",
                                   type);
                        r = -EINVAL;
                }
                free(type);
        }

        Node *on_entry = yaml_node_get(n, "onEntry"), *entry_method = yaml_node_get(n, "entryMethod");
        Node *on_exit = yaml_node_get(n, "onExit"), *exit_method = yaml_node_get(n, "exitMethod");
        if (on_entry && entry_method)
                diag_warning(l->d, entry_method->line, entry_method->column,
                             "both 'onEntry' and 'entryMethod' given: 'entryMethod' ignored");
        if (on_exit && exit_method)
                diag_warning(l->d, exit_method->line, exit_method->column,
                             "both 'onExit' and 'exitMethod' given: 'exitMethod' ignored");
        if (parse_actions(l, on_entry ?: entry_method, on_entry ? "onEntry" : "entryMethod", &s->on_entry,
                          &s->n_on_entry) < 0)
                r = -EINVAL;
        if (parse_actions(l, on_exit ?: exit_method, on_exit ? "onExit" : "exitMethod", &s->on_exit, &s->n_on_exit) <
            0)
                r = -EINVAL;

        casc = yaml_node_get(n, "cascadingRules");
        if (casc && !yaml_scalar_is_null(casc)) {
                if (!expect_kind(l, casc, NODE_SEQ, "cascadingRules"))
                        r = -EINVAL;
                else if (casc->n_children > 0) {
                        s->cascades = calloc(casc->n_children, sizeof *s->cascades);
                        if (!s->cascades)
                                return -ENOMEM;
                        for (size_t i = 0; i < casc->n_children; i++) {
                                if (parse_cascade(l, casc->children[i], &s->cascades[s->n_cascades]) < 0)
                                        r = -EINVAL;
                                s->n_cascades++;
                        }
                }
        }

        /* statecharts: children are read by the caller */
        Node *hist, *children = yaml_node_get(n, "states"), *init;
        char *h = NULL;
        bool compound = children && children->kind == NODE_SEQ && children->n_children > 0;
        if (get_string(l, n, "history", false, &h, &hist) < 0)
                r = -EINVAL;
        else if (h) {
                if (streq(h, "shallow"))
                        s->history = HISTORY_SHALLOW;
                else if (streq(h, "deep"))
                        s->history = HISTORY_DEEP;
                else {
                        diag_error(l->d, hist->line, hist->column, "history must be shallow or deep, not '%s'", h);
                        r = -EINVAL;
                }
                if (!compound && s->history) {
                        diag_error(l->d, hist->line, hist->column, "history needs a compound state (with 'states')");
                        r = -EINVAL;
                }
                free(h);
        }
        if (get_string(l, n, "initial", false, &s->initial_name, &init) < 0)
                r = -EINVAL;
        else if (s->initial_name) {
                s->initial_line = init->line;
                s->initial_column = init->column;
                if (!compound || s->parallel) {
                        diag_error(l->d, init->line, init->column, "'initial' needs a compound state (with 'states')");
                        r = -EINVAL;
                }
        }
        if (s->parallel && !compound) {
                diag_error(l->d, type_node->line, type_node->column, "a parallel state needs child states ('states')");
                r = -EINVAL;
        }
        if (compound && (s->type == STATE_FINAL || s->type == STATE_ERROR)) {
                diag_error(l->d, type_node->line, type_node->column, "a %s state cannot have child states",
                           s->type == STATE_FINAL ? "final" : "error");
                r = -EINVAL;
        }
        accept_key(n, "description");
        accept_key(n, "metadata");
        warn_unknown_keys(l, n, "a state");
        return r;
}

static const char *const transition_type_names[] = {
        [TRANSITION_REGULAR] = "regular",           [TRANSITION_TRIGGERABLE] = "triggerable",
        [TRANSITION_INTERNAL] = "internal",         [TRANSITION_INTER_MACHINE] = "inter_machine",
        [TRANSITION_CROSS_COMPONENT] = "cross_component", [TRANSITION_TIMEOUT] = "timeout",
        [TRANSITION_AUTO] = "auto",
};

static int parse_transition(Loader *l, Machine *m, Node *n, Transition *t) {
        Node *from_node, *to_node, *type_node, *ev_node, *tm_node, *g;
        char *from = NULL, *to = NULL, *type = NULL;
        int r = 0;

        if (!expect_kind(l, n, NODE_MAP, "a transition"))
                return -EINVAL;
        t->line = n->line;
        t->column = n->column;
        t->reset_on_transition = true;
        t->notify_include_state = true;

        if (get_string(l, n, "from", true, &from, &from_node) < 0)
                r = -EINVAL;
        else if (resolve_state(l, m, from_node, "'from'", &t->from) < 0)
                r = -EINVAL;
        /* without 'to': targetless (its actions run, nothing is left or entered) */
        if (get_string(l, n, "to", false, &to, &to_node) < 0)
                r = -EINVAL;
        else if (!to) {
                t->targetless = true;
                t->to = t->from;
        } else if (resolve_state(l, m, to_node, "'to'", &t->to) < 0)
                r = -EINVAL;
        free(from);
        free(to);

        /* without 'event': eventless, which only the SCXML algorithm knows */
        if (get_string(l, n, "event", false, &t->event, &ev_node) < 0)
                r = -EINVAL;
        else if (!t->event) {
                if (!m->statechart) {
                        diag_error(l->d, n->line, n->column,
                                   "missing required key 'event' (a transition without one is eventless, which "
                                   "needs the SCXML algorithm: machine '%s' has no compound states and no "
                                   "'semantics: scxml')",
                                   m->name ?: "?");
                        r = -EINVAL;
                }
        } else if (!name_is_event(t->event)) {
                diag_error(l->d, ev_node->line, ev_node->column, "event name '%s' is not valid", t->event);
                r = -EINVAL;
        } else if (!is_event_convention(t->event) && strncmp(t->event, "done.state.", 11) != 0)
                diag_warning(l->d, ev_node->line, ev_node->column,
                             "event name '%s' does not follow the convention ^[A-Z][A-Z0-9_]*$", t->event);

        if (get_string(l, n, "type", false, &type, &type_node) < 0)
                r = -EINVAL;
        t->type = TRANSITION_REGULAR;
        if (type) {
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(transition_type_names); i++)
                        if (streq(type, transition_type_names[i])) {
                                t->type = (TransitionType) i;
                                found = true;
                        }
                if (!found) {
                        diag_error(l->d, type_node->line, type_node->column,
                                   "unknown transition type '%s' (expected regular, triggerable, internal, "
                                   "inter_machine, cross_component, timeout or auto)",
                                   type);
                        r = -EINVAL;
                }
                free(type);
        }

        if (get_ms(l, n, "timeoutMs", &t->has_timeout, &t->timeout_ms) < 0)
                r = -EINVAL;
        if (t->type == TRANSITION_TIMEOUT && !t->has_timeout && !yaml_node_get(n, "timeoutMs")) {
                diag_error(l->d, type_node->line, type_node->column, "timeout transition on '%s' without 'timeoutMs'",
                           t->event ?: "?");
                r = -EINVAL;
        }
        /* a timer fires its transition's event: it needs one */
        if (!t->event && m->statechart &&
            (t->type == TRANSITION_TIMEOUT || (t->type == TRANSITION_AUTO && t->timeout_ms > 0))) {
                diag_error(l->d, type_node->line, type_node->column, "%s transition with 'timeoutMs' without 'event'",
                           t->type == TRANSITION_TIMEOUT ? "timeout" : "auto");
                r = -EINVAL;
        }
        /* in a statechart an immediate auto transition is eventless like any other */
        t->eventless = m->statechart && (!t->event || (t->type == TRANSITION_AUTO && t->timeout_ms == 0));
        if (get_bool(l, n, "resetOnTransition", &t->reset_on_transition) < 0)
                r = -EINVAL;

        if (get_string(l, n, "targetMachine", false, &t->target_machine, &tm_node) < 0 ||
            get_string(l, n, "targetComponent", false, &t->target_component, NULL) < 0 ||
            get_string(l, n, "targetEvent", false, &t->target_event, NULL) < 0 ||
            get_string(l, n, "triggeredMethod", false, &t->triggered_method, NULL) < 0)
                r = -EINVAL;

        if (t->type == TRANSITION_INTER_MACHINE && !t->target_machine) {
                diag_error(l->d, n->line, n->column, "inter_machine transition without 'targetMachine'");
                r = -EINVAL;
        }
        if (t->type == TRANSITION_CROSS_COMPONENT && !t->target_component) {
                diag_error(l->d, n->line, n->column, "cross_component transition without 'targetComponent'");
                r = -EINVAL;
        }
        if (t->type == TRANSITION_CROSS_COMPONENT && t->target_component && !t->target_machine) {
                /* xcomponent-ai defaults the machine to the component's name */
                t->target_machine = strdup(t->target_component);
                if (!t->target_machine)
                        return -ENOMEM;
        }

        Node *cm = yaml_node_get(n, "contextMapping");
        if (cm && !yaml_scalar_is_null(cm)) {
                if (!expect_kind(l, cm, NODE_MAP, "contextMapping"))
                        r = -EINVAL;
                else if (cm->n_children > 0) {
                        t->mappings = calloc(cm->n_children / 2, sizeof *t->mappings);
                        if (!t->mappings)
                                return -ENOMEM;
                        for (size_t i = 0; i + 1 < cm->n_children; i += 2) {
                                Node *v = cm->children[i + 1];
                                if (!expect_kind(l, v, NODE_SCALAR, "a contextMapping source path")) {
                                        r = -EINVAL;
                                        continue;
                                }
                                t->mappings[t->n_mappings].target_key = strdup(cm->children[i]->value);
                                t->mappings[t->n_mappings].source_path = strdup(v->value);
                                t->n_mappings++;
                        }
                }
        }

        if (parse_matching_rules(l, yaml_node_get(n, "matchingRules"), &t->rules, &t->n_rules) < 0)
                r = -EINVAL;

        Node *np = yaml_node_get(n, "notifyParent");
        if (np && !yaml_scalar_is_null(np)) {
                if (!expect_kind(l, np, NODE_MAP, "notifyParent"))
                        r = -EINVAL;
                else {
                        t->notify_parent = true;
                        if (get_string(l, np, "event", true, &t->notify_event, NULL) < 0 ||
                            get_bool(l, np, "includeState", &t->notify_include_state) < 0 ||
                            get_bool(l, np, "includeContext", &t->notify_include_context) < 0)
                                r = -EINVAL;
                        warn_unknown_keys(l, np, "notifyParent");
                }
        }

        g = yaml_node_get(n, "guard");
        if (g && !yaml_scalar_is_null(g)) {
                Node *e = g;
                if (g->kind == NODE_MAP) {
                        e = yaml_node_get(g, "expression");
                        warn_unknown_keys(l, g, "a guard");
                        if (!e) {
                                diag_error(l->d, g->line, g->column, "guard without 'expression'");
                                r = -EINVAL;
                        }
                }
                if (e && expect_kind(l, e, NODE_SCALAR, "guard")) {
                        size_t offset = 0;
                        const char *message = NULL;
                        t->guard = strdup(e->value);
                        t->guard_expr = guard_parse(e->value, &offset, &message);
                        if (!t->guard_expr) {
                                unsigned line, column;
                                node_offset_position(e, offset, &line, &column);
                                diag_error(l->d, line, column, "bad guard: %s", message);
                                r = -EINVAL;
                        }
                } else if (e)
                        r = -EINVAL;
        }

        if (parse_actions(l, yaml_node_get(n, "actions"), "actions", &t->actions, &t->n_actions) < 0)
                r = -EINVAL;

        accept_key(n, "description");
        accept_key(n, "metadata");
        warn_unknown_keys(l, n, "a transition");
        return r;
}

static const char *const schema_keys[] = { "type",    "label",   "required",    "min",         "max",
                                           "default", "options", "placeholder", "description",
                                           "pattern", NULL };

static int parse_context_schema(Loader *l, Machine *m, Node *n) {
        int r = 0;

        if (!n || yaml_scalar_is_null(n))
                return 0;
        if (!expect_kind(l, n, NODE_MAP, "contextSchema"))
                return -EINVAL;
        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                Node *f = n->children[i + 1];
                char *type = NULL;
                Node *tn;

                if (!expect_kind(l, f, NODE_MAP, "a contextSchema field")) {
                        r = -EINVAL;
                        continue;
                }
                if (get_string(l, f, "type", false, &type, &tn) < 0)
                        r = -EINVAL;
                else if (type && !streq(type, "text") && !streq(type, "string") && !streq(type, "number") &&
                         !streq(type, "boolean") && !streq(type, "select")) {
                        diag_error(l->d, tn->line, tn->column,
                                   "unknown field type '%s' (expected text, string, number, boolean or select)", type);
                        r = -EINVAL;
                }
                free(type);
                for (const char *const *k = schema_keys; *k; k++)
                        accept_key(f, *k);
                warn_unknown_keys(l, f, "a contextSchema field");
        }
        m->context_schema = yaml_node_to_json(n);
        return r;
}

static size_t count_states(const Node *list) {
        size_t n = 0;
        for (size_t i = 0; list && list->kind == NODE_SEQ && i < list->n_children; i++) {
                const Node *sn = list->children[i];
                n++;
                if (sn->kind == NODE_MAP)
                        for (size_t k = 0; k + 1 < sn->n_children; k += 2)
                                if (sn->children[k]->kind == NODE_SCALAR && streq(sn->children[k]->value, "states"))
                                        n += count_states(sn->children[k + 1]);
        }
        return n;
}

/* States in document order, each parent before its children. */
static int parse_states(Loader *l, Machine *m, Node *list, int parent, unsigned depth, Node **first_entry) {
        int r = 0;

        if (depth > 32) {
                diag_error(l->d, list->line, list->column, "states nested more than 32 deep");
                return -EINVAL;
        }
        for (size_t i = 0; i < list->n_children; i++) {
                Node *sn = list->children[i], *kids;
                State *s = &m->states[m->n_states];
                unsigned idx = (unsigned) m->n_states;

                if (!expect_kind(l, sn, NODE_MAP, "a state")) {
                        r = -EINVAL;
                        continue;
                }
                s->index = idx;
                s->parent = parent;
                s->initial = -1;
                s->history_slot = -1;
                if (parse_state(l, sn, s) < 0)
                        r = -EINVAL;
                m->n_states++;
                if (parent >= 0) {
                        State *p = &m->states[parent];
                        unsigned *c = realloc(p->children, (p->n_children + 1) * sizeof *c);
                        if (!c)
                                return -ENOMEM;
                        p->children = c;
                        p->children[p->n_children++] = idx;
                }
                if (s->name)
                        for (size_t j = 0; j < idx; j++)
                                if (streq_ptr(m->states[j].name, s->name)) {
                                        diag_error(l->d, s->line, s->column,
                                                   "duplicate state name '%s' (first at line %u)", s->name,
                                                   m->states[j].line);
                                        r = -EINVAL;
                                        free(s->name);
                                        s->name = NULL;
                                        break;
                                }
                if (s->type == STATE_ENTRY) {
                        Node *tn = yaml_node_get(sn, "type");
                        if (*first_entry) {
                                diag_error(l->d, tn->line, tn->column,
                                           "second entry state '%s' (the first is at line %u)", s->name ?: "?",
                                           (*first_entry)->line);
                                r = -EINVAL;
                        } else
                                *first_entry = tn;
                }
                kids = yaml_node_get(sn, "states");
                if (kids && !yaml_scalar_is_null(kids)) {
                        if (!expect_kind(l, kids, NODE_SEQ, "states"))
                                r = -EINVAL;
                        else if (kids->n_children > 0) {
                                m->statechart = true;
                                if (parse_states(l, m, kids, (int) idx, depth + 1, first_entry) < 0)
                                        r = -EINVAL;
                        }
                }
                s = &m->states[idx];
                s->end = (unsigned) m->n_states;
                if (s->n_children > 0 && !s->parallel) {
                        s->initial = (int) s->children[0];
                        if (s->initial_name) {
                                const State *c = machine_find_state(m, s->initial_name);
                                if (!c || c->parent != (int) idx) {
                                        diag_error(l->d, s->initial_line, s->initial_column,
                                                   "'initial' names '%s', which is not a child state of '%s'",
                                                   s->initial_name, s->name ?: "?");
                                        r = -EINVAL;
                                } else
                                        s->initial = (int) c->index;
                        }
                }
                if (s->n_children > 0 && s->name && asprintf(&s->done_event, "done.state.%s", s->name) < 0)
                        return -ENOMEM;
                if (s->history)
                        s->history_slot = (int) m->n_history++;
        }
        return r;
}

static int parse_machine(Loader *l, Machine *m, Node *n) {
        Node *name_node, *init_node, *states, *trans, *sem_node;
        char *initial = NULL, *semantics = NULL;
        int r = 0;

        m->line = n->line;
        m->column = n->column;
        m->retention_keep_ms = DEFAULT_RETENTION_KEEP_MS;

        if (get_string(l, n, "name", true, &m->name, &name_node) < 0)
                r = -EINVAL;
        else if (!name_is_identifier(m->name, XFSM_MAX_NAME)) {
                diag_error(l->d, name_node->line, name_node->column,
                           "machine name '%s' must match [A-Za-z_][A-Za-z0-9_]*", m->name);
                r = -EINVAL;
        } else {
                for (Machine *o = l->c->machines; o < m; o++)
                        if (streq_ptr(o->name, m->name)) {
                                diag_error(l->d, name_node->line, name_node->column,
                                           "duplicate machine name '%s' (first at line %u)", m->name, o->line);
                                r = -EINVAL;
                        }
                m->line = name_node->line;
                m->column = name_node->column;
        }

        states = yaml_node_get(n, "states");
        if (!states || yaml_scalar_is_null(states) || (states->kind == NODE_SEQ && states->n_children == 0)) {
                diag_error(l->d, states ? states->line : n->line, states ? states->column : n->column,
                           "machine '%s' has no states", m->name ?: "?");
                r = -EINVAL;
        } else if (!expect_kind(l, states, NODE_SEQ, "states"))
                r = -EINVAL;
        else {
                Node *first_entry = NULL;
                m->states = calloc(count_states(states), sizeof *m->states);
                if (!m->states)
                        return -ENOMEM;
                if (parse_states(l, m, states, -1, 0, &first_entry) < 0)
                        r = -EINVAL;
                if (m->statechart && m->n_states > STATECHART_MAX_STATES) {
                        diag_error(l->d, states->line, states->column,
                                   "a statechart of more than %d states is not supported", STATECHART_MAX_STATES);
                        r = -EINVAL;
                }
        }

        /* the SCXML algorithm for a machine without compound states too */
        if (get_string(l, n, "semantics", false, &semantics, &sem_node) < 0)
                r = -EINVAL;
        else if (semantics) {
                if (streq(semantics, "scxml"))
                        m->statechart = true;
                else if (!streq(semantics, "xcomponent")) {
                        diag_error(l->d, sem_node->line, sem_node->column,
                                   "semantics must be scxml or xcomponent, not '%s'", semantics);
                        r = -EINVAL;
                } else if (m->statechart) {
                        diag_error(l->d, sem_node->line, sem_node->column,
                                   "machine '%s' has compound or parallel states: its semantics is scxml",
                                   m->name ?: "?");
                        r = -EINVAL;
                }
                free(semantics);
        }

        if (get_string(l, n, "initialState", true, &initial, &init_node) < 0)
                r = -EINVAL;
        else if (m->n_states > 0 && resolve_state(l, m, init_node, "'initialState'", &m->initial) < 0)
                r = -EINVAL;
        free(initial);

        trans = yaml_node_get(n, "transitions");
        if (trans && !yaml_scalar_is_null(trans)) {
                if (!expect_kind(l, trans, NODE_SEQ, "transitions"))
                        r = -EINVAL;
                else if (trans->n_children > 0) {
                        m->transitions = calloc(trans->n_children, sizeof *m->transitions);
                        if (!m->transitions)
                                return -ENOMEM;
                        for (size_t i = 0; i < trans->n_children; i++) {
                                Transition *t = &m->transitions[m->n_transitions];
                                t->index = (unsigned) m->n_transitions;
                                if (parse_transition(l, m, trans->children[i], t) < 0)
                                        r = -EINVAL;
                                m->n_transitions++;
                        }
                }
        }

        if (parse_context_schema(l, m, yaml_node_get(n, "contextSchema")) < 0)
                r = -EINVAL;

        Node *pl = yaml_node_get(n, "parentLink");
        if (pl && !yaml_scalar_is_null(pl)) {
                if (!expect_kind(l, pl, NODE_MAP, "parentLink"))
                        r = -EINVAL;
                else {
                        bool enabled = true;
                        if (get_bool(l, pl, "enabled", &enabled) < 0 ||
                            get_string(l, pl, "onStateChange", false, &m->parent_link_event, NULL) < 0)
                                r = -EINVAL;
                        m->parent_link = enabled && m->parent_link_event;
                        warn_unknown_keys(l, pl, "parentLink");
                }
        }

        Node *ret = yaml_node_get(n, "retention");
        if (ret && !yaml_scalar_is_null(ret)) {
                if (!expect_kind(l, ret, NODE_MAP, "retention"))
                        r = -EINVAL;
                else {
                        char *fin = NULL;
                        Node *fn;
                        bool set = false;
                        if (get_string(l, ret, "final", false, &fin, &fn) < 0)
                                r = -EINVAL;
                        else if (fin) {
                                if (streq(fin, "drop"))
                                        m->retention_drop = true;
                                else if (!streq(fin, "keep")) {
                                        diag_error(l->d, fn->line, fn->column,
                                                   "retention 'final' must be keep or drop, not '%s'", fin);
                                        r = -EINVAL;
                                }
                        }
                        free(fin);
                        if (get_ms(l, ret, "keepMs", &set, &m->retention_keep_ms) < 0)
                                r = -EINVAL;
                        warn_unknown_keys(l, ret, "retention");
                }
        }

        accept_key(n, "publicMemberType");
        accept_key(n, "metadata");
        accept_key(n, "description");
        warn_unknown_keys(l, n, "a machine");
        return r;
}

/* ---- whole-component checks ------------------------------------------- */

static int check_send_target(Loader *l, const Action *a) {
        bool local = a->to == SEND_MACHINE || (a->to == SEND_COMPONENT && streq_ptr(a->to_component, l->c->name));
        if (a->kind != ACTION_SEND || !local || !a->to_machine)
                return 0;
        if (component_find_machine(l->c, a->to_machine))
                return 0;
        diag_error(l->d, a->line, a->column, "send to unknown machine '%s' in component '%s'", a->to_machine,
                   l->c->name ?: "?");
        return -EINVAL;
}

static int number_actions(Machine *m, Action *a, size_t n) {
        for (size_t k = 0; k < n; k++) {
                const Action **v = realloc(m->actions, (m->n_actions + 1) * sizeof *v);
                if (!v)
                        return -ENOMEM;
                m->actions = v;
                a[k].id = (unsigned) m->n_actions;
                m->actions[m->n_actions++] = &a[k];
        }
        return 0;
}

static int link_machine(Loader *l, Machine *m) {
        size_t *counts;
        int r = 0;

        for (size_t s = 0; s < m->n_states; s++)
                if (number_actions(m, m->states[s].on_entry, m->states[s].n_on_entry) < 0 ||
                    number_actions(m, m->states[s].on_exit, m->states[s].n_on_exit) < 0)
                        return -ENOMEM;
        for (size_t t = 0; t < m->n_transitions; t++)
                if (number_actions(m, m->transitions[t].actions, m->transitions[t].n_actions) < 0)
                        return -ENOMEM;

        if (m->n_states == 0)
                return 0;
        m->n_words = (unsigned) ((m->n_states + 63) / 64);

        /* out-lists per state, in file order */
        counts = calloc(m->n_states, sizeof *counts);
        if (!counts)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_transitions; i++)
                counts[m->transitions[i].from]++;
        for (size_t s = 0; s < m->n_states; s++) {
                m->states[s].out = calloc(counts[s] ? counts[s] : 1, sizeof *m->states[s].out);
                if (!m->states[s].out) {
                        free(counts);
                        return -ENOMEM;
                }
        }
        free(counts);
        for (size_t i = 0; i < m->n_transitions; i++) {
                Transition *t = &m->transitions[i];
                State *s = &m->states[t->from];
                s->out[s->n_out++] = t;
                if (t->type == TRANSITION_TIMEOUT || (t->type == TRANSITION_AUTO && t->timeout_ms > 0))
                        s->has_timers = true;
                if (t->type == TRANSITION_AUTO)
                        s->has_auto = true;
                if (t->eventless)
                        s->has_eventless = m->has_eventless = true;
        }

        /* an eventless transition that leaves nothing and has no guard is enabled
         * again after itself, for ever: the loop bound refuses every event that
         * reaches its state */
        for (size_t i = 0; i < m->n_transitions; i++) {
                const Transition *t = &m->transitions[i];
                if (t->eventless && t->targetless && !t->guard)
                        diag_warning(l->d, t->line, t->column,
                                     "eventless transition from '%s' without 'to' or 'guard' is taken again and "
                                     "again: every event that reaches the state fails as a loop",
                                     m->states[t->from].name ?: "?");
        }

        /* an internal transition SCXML takes as an external one (see sc_domain()):
         * its source is left and entered again, which a flat machine's internal
         * self-loop does not do */
        for (size_t i = 0; m->statechart && i < m->n_transitions; i++) {
                const Transition *t = &m->transitions[i];
                const State *src = &m->states[t->from];
                bool compound = src->n_children > 0 && !src->parallel;
                if (t->type != TRANSITION_INTERNAL || t->targetless ||
                    (compound && t->to > t->from && t->to < src->end))
                        continue;
                diag_warning(l->d, t->line, t->column,
                             "internal transition from '%s' to '%s' is an external one (as in SCXML: %s): it exits "
                             "'%s'; a transition without 'to' exits nothing",
                             src->name ?: "?", m->states[t->to].name ?: "?",
                             compound ? "its target is not a descendant of its source"
                                      : src->n_children > 0 ? "its source is a parallel state"
                                                            : "its source is an atomic state",
                             src->name ?: "?");
        }

        /* several candidates that nothing tells apart: only the first runs */
        for (size_t s = 0; s < m->n_states; s++) {
                State *st = &m->states[s];
                for (size_t i = 0; i < st->n_out; i++)
                        for (size_t j = i + 1; j < st->n_out; j++) {
                                const Transition *a = st->out[i], *b = st->out[j];
                                bool same = (a->event && b->event && streq(a->event, b->event)) ||
                                            (!a->event && !b->event);
                                if (same && !a->guard && a->n_rules == 0 && !b->guard && b->n_rules == 0) {
                                        diag_warning(l->d, b->line, b->column,
                                                     "transition from '%s' %s%s%s is never taken: the one at line %u "
                                                     "comes first and has no guard or matchingRules",
                                                     st->name ?: "?", b->event ? "on '" : "without event",
                                                     b->event ?: "", b->event ? "'" : "", a->line);
                                        break;
                                }
                        }
        }

        /* local targets */
        for (size_t i = 0; i < m->n_transitions; i++) {
                Transition *t = &m->transitions[i];
                bool local = t->type == TRANSITION_INTER_MACHINE ||
                             (t->type == TRANSITION_CROSS_COMPONENT && streq_ptr(t->target_component, l->c->name));
                if (local && t->target_machine && !component_find_machine(l->c, t->target_machine)) {
                        diag_error(l->d, t->line, t->column, "unknown targetMachine '%s' in component '%s'",
                                   t->target_machine, l->c->name ?: "?");
                        r = -EINVAL;
                }
        }
        for (size_t s = 0; s < m->n_states; s++)
                for (size_t i = 0; i < m->states[s].n_cascades; i++) {
                        CascadingRule *cr = &m->states[s].cascades[i];
                        const Machine *tm;
                        if (!cr->target_machine || !cr->target_state)
                                continue;
                        if (cr->target_component && !streq_ptr(cr->target_component, l->c->name)) {
                                if (cr->n_rules == 0)
                                        diag_warning(l->d, cr->line, cr->column,
                                                     "cascade without matchingRules: '%s' goes to every %s.%s in "
                                                     "state '%s'",
                                                     cr->event ?: "?", cr->target_component, cr->target_machine,
                                                     cr->target_state);
                                continue;
                        }
                        tm = component_find_machine(l->c, cr->target_machine);
                        if (!tm) {
                                diag_error(l->d, cr->line, cr->column, "unknown targetMachine '%s' in component '%s'",
                                           cr->target_machine, l->c->name ?: "?");
                                r = -EINVAL;
                        } else if (!machine_find_state(tm, cr->target_state)) {
                                diag_error(l->d, cr->state_line, cr->state_column,
                                           "targetState '%s' is not a state of machine '%s'", cr->target_state,
                                           tm->name);
                                r = -EINVAL;
                        } else if (cr->n_rules == 0) {
                                bool rules = false;
                                const State *ts = machine_find_state(tm, cr->target_state);
                                for (size_t k = 0; k < ts->n_out; k++)
                                        if (streq_ptr(ts->out[k]->event, cr->event) && ts->out[k]->n_rules > 0)
                                                rules = true;
                                if (!rules)
                                        diag_warning(l->d, cr->line, cr->column,
                                                     "cascade without matchingRules: '%s' goes to every %s in state "
                                                     "'%s'",
                                                     cr->event ?: "?", cr->target_machine, cr->target_state);
                        }
                }

        /* send targets name machines of this component */
        for (size_t s = 0; s <= m->n_states; s++) {
                const Action *acts[3];
                size_t ns[3], n_lists;
                if (s < m->n_states) {
                        acts[0] = m->states[s].on_entry;
                        ns[0] = m->states[s].n_on_entry;
                        acts[1] = m->states[s].on_exit;
                        ns[1] = m->states[s].n_on_exit;
                        n_lists = 2;
                } else
                        n_lists = 0;
                for (size_t li = 0; li < n_lists; li++)
                        for (size_t k = 0; k < ns[li]; k++)
                                if (check_send_target(l, &acts[li][k]) < 0)
                                        r = -EINVAL;
        }
        for (size_t i = 0; i < m->n_transitions; i++)
                for (size_t k = 0; k < m->transitions[i].n_actions; k++)
                        if (check_send_target(l, &m->transitions[i].actions[k]) < 0)
                                r = -EINVAL;

        /* reachability from the initial state (and as a target of others) */
        if (r == 0) {
                bool *seen = calloc(m->n_states, sizeof *seen);
                unsigned *queue = calloc(m->n_states, sizeof *queue);
                size_t head = 0, tail = 0;

                if (!seen || !queue) {
                        free(seen);
                        free(queue);
                        return -ENOMEM;
                }
                seen[m->initial] = true;
                queue[tail++] = m->initial;
                while (head < tail) {
                        const State *st = &m->states[queue[head++]];
                        /* in a state: in its ancestors, and entering it enters its children */
                        unsigned next[64];
                        size_t n_next = 0;
                        if (st->parent >= 0)
                                next[n_next++] = (unsigned) st->parent;
                        for (size_t c = 0; c < st->n_children && n_next < 63; c++)
                                if (st->parallel || st->history || (int) st->children[c] == st->initial)
                                        next[n_next++] = st->children[c];
                        for (size_t k = 0; k < n_next; k++)
                                if (!seen[next[k]]) {
                                        seen[next[k]] = true;
                                        queue[tail++] = next[k];
                                }
                        for (size_t i = 0; i < st->n_out; i++)
                                if (!seen[st->out[i]->to]) {
                                        seen[st->out[i]->to] = true;
                                        queue[tail++] = st->out[i]->to;
                                }
                }
                for (size_t s = 0; s < m->n_states; s++)
                        if (!seen[s] && m->states[s].name)
                                diag_warning(l->d, m->states[s].line, m->states[s].column,
                                             "state '%s' of machine '%s' is unreachable from '%s'", m->states[s].name,
                                             m->name, m->states[m->initial].name);
                free(seen);
                free(queue);
        }
        return r;
}

static char *hash_hex(const char *data, size_t len) {
        uint64_t h = 0xcbf29ce484222325ULL;
        char *s;

        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char) data[i];
                h *= 0x100000001b3ULL;
        }
        if (asprintf(&s, "%016" PRIx64, h) < 0)
                return NULL;
        return s;
}

int component_load(const char *file, const char *data, size_t len, xfsm_diag_fn fn, void *userdata,
                   Component **ret) {
        Diag d = { .file = file, .fn = fn, .userdata = userdata };
        Loader l = { .d = &d };
        Component *c;
        Node *root = NULL, *name_node, *machines, *n;
        char *mode = NULL, *entry = NULL;
        int r;

        r = yaml_node_parse(data, len, &d, &root);
        if (r < 0)
                return -XFSM_E_LOAD_FAILED;
        if (!root) {
                diag_error(&d, 1, 1, "empty document: a component needs 'name' and 'stateMachines'");
                return -XFSM_E_LOAD_FAILED;
        }
        if (root->kind != NODE_MAP) {
                diag_error(&d, root->line, root->column, "a component must be a mapping");
                yaml_node_free(root);
                return -XFSM_E_LOAD_FAILED;
        }

        c = calloc(1, sizeof *c);
        if (!c) {
                yaml_node_free(root);
                return -ENOMEM;
        }
        l.c = c;
        r = 0;

        if (get_string(&l, root, "name", true, &c->name, &name_node) < 0)
                r = -EINVAL;
        else if (!name_is_identifier(c->name, 64)) {
                diag_error(&d, name_node->line, name_node->column,
                           "component name '%s' must match [A-Za-z_][A-Za-z0-9_]* and be at most 64 characters",
                           c->name);
                r = -EINVAL;
        }
        if (get_string(&l, root, "version", false, &c->version, NULL) < 0)
                r = -EINVAL;

        machines = yaml_node_get(root, "stateMachines");
        if (!machines || yaml_scalar_is_null(machines) || (machines->kind == NODE_SEQ && machines->n_children == 0)) {
                diag_error(&d, machines ? machines->line : root->line, machines ? machines->column : root->column,
                           "'stateMachines' is required and must list at least one machine");
                r = -EINVAL;
        } else if (!expect_kind(&l, machines, NODE_SEQ, "stateMachines"))
                r = -EINVAL;
        else {
                c->machines = calloc(machines->n_children, sizeof *c->machines);
                if (!c->machines) {
                        r = -ENOMEM;
                        goto finish;
                }
                /* names first, so that references between machines resolve */
                for (size_t i = 0; i < machines->n_children; i++) {
                        Node *mn = machines->children[i];
                        Machine *m = &c->machines[c->n_machines];
                        if (!expect_kind(&l, mn, NODE_MAP, "a state machine")) {
                                r = -EINVAL;
                                continue;
                        }
                        m->index = (unsigned) c->n_machines;
                        m->component = c;
                        if (parse_machine(&l, m, mn) < 0)
                                r = -EINVAL;
                        c->n_machines++;
                }
                if (r == 0)
                        for (size_t i = 0; i < c->n_machines; i++)
                                if (link_machine(&l, &c->machines[i]) < 0)
                                        r = -EINVAL;
        }

        c->entry_mode = ENTRY_SINGLETON;
        if (get_string(&l, root, "entryMachineMode", false, &mode, &n) < 0)
                r = -EINVAL;
        else if (mode) {
                if (streq(mode, "multiple"))
                        c->entry_mode = ENTRY_MULTIPLE;
                else if (!streq(mode, "singleton")) {
                        diag_error(&d, n->line, n->column, "entryMachineMode must be singleton or multiple, not '%s'",
                                   mode);
                        r = -EINVAL;
                }
        }
        c->auto_create = c->entry_mode == ENTRY_SINGLETON;
        if (get_bool(&l, root, "autoCreateEntryPoint", &c->auto_create) < 0)
                r = -EINVAL;
        if (get_string(&l, root, "entryMachine", false, &entry, &n) < 0)
                r = -EINVAL;
        else if (entry) {
                c->entry_machine = (Machine *) component_find_machine(c, entry);
                if (!c->entry_machine) {
                        diag_error(&d, n->line, n->column, "entryMachine '%s' is not a machine of this component",
                                   entry);
                        r = -EINVAL;
                }
        }

        accept_key(root, "metadata");
        accept_key(root, "layout");
        accept_key(root, "description");
        warn_unknown_keys(&l, root, "the component");

        if (r == 0) {
                c->definition = yaml_node_to_json(root);
                c->hash = hash_hex(data, len);
                c->file = strdup(file);
                if (!c->hash || !c->file)
                        r = -ENOMEM;
        }

finish:
        free(mode);
        free(entry);
        yaml_node_free(root);
        if (r < 0 || d.n_errors > 0) {
                component_free(c);
                return r == -ENOMEM ? -ENOMEM : -XFSM_E_LOAD_FAILED;
        }
        *ret = c;
        return 0;
}

/* ---- model helpers ----------------------------------------------------- */

static void rules_free(MatchingRule *rules, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(rules[i].event_property);
                free(rules[i].instance_property);
        }
        free(rules);
}

static void actions_free(Action *a, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(a[i].name);
                for (size_t k = 0; k < a[i].n_assigns; k++) {
                        free(a[i].assigns[k].key);
                        guard_free(a[i].assigns[k].expr);
                }
                free(a[i].assigns);
                free(a[i].to_component);
                free(a[i].to_machine);
                free(a[i].event);
                json_template_free(a[i].payload);
                free(a[i].send_id);
                rules_free(a[i].rules, a[i].n_rules);
                free(a[i].verb);
                for (char **p = a[i].argv; p && *p; p++)
                        free(*p);
                free(a[i].argv);
        }
        free(a);
}

Component *component_free(Component *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_machines; i++) {
                Machine *m = &c->machines[i];
                for (size_t s = 0; s < m->n_states; s++) {
                        State *st = &m->states[s];
                        free(st->name);
                        free(st->children);
                        free(st->done_event);
                        free(st->initial_name);
                        actions_free(st->on_entry, st->n_on_entry);
                        actions_free(st->on_exit, st->n_on_exit);
                        for (size_t k = 0; k < st->n_cascades; k++) {
                                CascadingRule *cr = &st->cascades[k];
                                free(cr->target_component);
                                free(cr->target_machine);
                                free(cr->target_state);
                                free(cr->event);
                                rules_free(cr->rules, cr->n_rules);
                                json_template_free(cr->payload);
                        }
                        free(st->cascades);
                        free(st->out);
                }
                free(m->states);
                for (size_t t = 0; t < m->n_transitions; t++) {
                        Transition *tr = &m->transitions[t];
                        free(tr->event);
                        free(tr->target_machine);
                        free(tr->target_component);
                        free(tr->target_event);
                        for (size_t k = 0; k < tr->n_mappings; k++) {
                                free(tr->mappings[k].target_key);
                                free(tr->mappings[k].source_path);
                        }
                        free(tr->mappings);
                        rules_free(tr->rules, tr->n_rules);
                        free(tr->notify_event);
                        free(tr->triggered_method);
                        actions_free(tr->actions, tr->n_actions);
                        free(tr->guard);
                        guard_free(tr->guard_expr);
                }
                free(m->transitions);
                free(m->actions);
                free(m->name);
                free(m->parent_link_event);
                json_object_put(m->context_schema);
        }
        free(c->machines);
        free(c->name);
        free(c->version);
        free(c->hash);
        free(c->file);
        json_object_put(c->definition);
        free(c);
        return NULL;
}

const Machine *component_find_machine(const Component *c, const char *name) {
        for (size_t i = 0; i < c->n_machines; i++)
                if (c->machines[i].name && streq(c->machines[i].name, name))
                        return &c->machines[i];
        return NULL;
}

const State *machine_find_state(const Machine *m, const char *name) {
        for (size_t i = 0; i < m->n_states; i++)
                if (m->states[i].name && streq(m->states[i].name, name))
                        return &m->states[i];
        return NULL;
}

const char *match_op_to_string(MatchOp op) {
        return op_names[op];
}
