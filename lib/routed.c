/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Routed events: what goes from one component to another, and its wire
 * form: versioned JSON ("v": 1; a reader ignores the fields it does not
 * know, so that nodes of different versions work together), written with
 * the id the host gives it (source incarnation and sequence) and read back
 * by the receiver (the daemon's Deliver, the Redis bridge). */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "js-compare.h"
#include "json-path.h"
#include "json-buf.h"
#include "json-parse.h"
#include "macro.h"
#include "yaml-load.h"

static void rules_free(MatchingRule *rules, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(rules[i].event_property);
                free(rules[i].instance_property);
        }
        free(rules);
}

static void values_free(xfsm_routed *r) {
        for (size_t i = 0; r->rule_values && i < r->n_rules; i++)
                json_object_put(r->rule_values[i]);
        free(r->rule_values);
        free(r->rule_has_value);
        r->rule_values = NULL;
        r->rule_has_value = NULL;
}

static void filters_free(RoutedFilter *f, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(f[i].property);
                free(f[i].op_text);
                json_object_put(f[i].value);
        }
        free(f);
}

xfsm_routed *routed_free(xfsm_routed *r) {
        if (!r)
                return NULL;
        values_free(r);
        filters_free(r->filters, r->n_filters);
        if (r->borrowed) {
                json_object_put(r->payload);
                free(r);
                return NULL;
        }
        free(r->source_component);
        free(r->source_incarnation);
        free(r->target_component);
        free(r->target_machine);
        free(r->target_state);
        free(r->event);
        json_object_put(r->payload);
        rules_free(r->rules, r->n_rules);
        free(r);
        return NULL;
}

static char *strdup_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static int values_alloc(xfsm_routed *r) {
        r->rule_values = calloc(r->n_rules ?: 1, sizeof *r->rule_values);
        r->rule_has_value = calloc(r->n_rules ?: 1, sizeof *r->rule_has_value);
        if (!r->rule_values || !r->rule_has_value) {
                values_free(r);
                return -ENOMEM;
        }
        return 0;
}

int routed_resolve_values(xfsm_routed *r, json_object *context) {
        int k;

        values_free(r);
        if (r->n_rules == 0)
                return 0;
        k = values_alloc(r);
        if (k < 0)
                return k;
        for (size_t i = 0; i < r->n_rules; i++) {
                const char *p = r->rules[i].event_property;
                json_object *v = json_event_property(r->payload, p);
                bool found = v != NULL;

                /* as xcomponent-ai: the payload's value unless null or absent, then the context's */
                if (!v)
                        v = json_path_lookup(context, p, &found);
                r->rule_values[i] = json_object_get(v);
                r->rule_has_value[i] = found;
        }
        return 0;
}

bool routed_filters_hold(const RoutedFilter *filters, size_t n, json_object *context) {
        for (size_t i = 0; i < n; i++) {
                const RoutedFilter *f = &filters[i];
                bool found;
                json_object *v;

                if (!f->op_known)
                        return false; /* an unknown operator matches nothing */
                v = json_path_lookup(context, f->property, &found);
                if (!js_compare(found ? js_value(v) : js_undefined(), f->op,
                                f->has_value ? js_value(f->value) : js_undefined()))
                        return false;
        }
        return true;
}

static int filters_copy(const RoutedFilter *f, size_t n, RoutedFilter **ret) {
        RoutedFilter *c = calloc(n ?: 1, sizeof *c);

        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                c[i] = (RoutedFilter) {
                        .property = strdup(f[i].property),
                        .op_text = strdup(f[i].op_text),
                        .op = f[i].op,
                        .op_known = f[i].op_known,
                        .has_value = f[i].has_value,
                        .value = json_object_get(f[i].value),
                };
                if (!c[i].property || !c[i].op_text) {
                        filters_free(c, i + 1);
                        return -ENOMEM;
                }
        }
        *ret = c;
        return 0;
}

xfsm_routed *routed_borrow(const xfsm_routed *r) {
        xfsm_routed *c;

        if (!r->borrowed)
                return routed_copy(r);
        c = malloc(sizeof *c);
        if (!c)
                return NULL;
        *c = *r;
        c->payload = json_object_get(r->payload);
        /* the definition's strings are borrowed; the resolved values and the filters are the copy's own
         * (routed_free() frees them) */
        c->rule_values = NULL;
        c->rule_has_value = NULL;
        c->filters = NULL;
        c->n_filters = 0;
        if (r->n_filters > 0) {
                if (filters_copy(r->filters, r->n_filters, &c->filters) < 0)
                        return routed_free(c);
                c->n_filters = r->n_filters;
        }
        if (r->rule_values) {
                if (values_alloc(c) < 0)
                        return routed_free(c);
                for (size_t i = 0; i < r->n_rules; i++) {
                        c->rule_values[i] = json_object_get(r->rule_values[i]);
                        c->rule_has_value[i] = r->rule_has_value[i];
                }
        }
        return c;
}

xfsm_routed *routed_copy(const xfsm_routed *r) {
        xfsm_routed *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        *c = (xfsm_routed) {
                .kind = r->kind,
                .source_seq = r->source_seq,
                .rule_index = r->rule_index,
                .hops = r->hops,
                .source_component = strdup_null(r->source_component),
                .source_incarnation = strdup_null(r->source_incarnation),
                .target_component = strdup_null(r->target_component),
                .target_machine = strdup_null(r->target_machine),
                .target_state = strdup_null(r->target_state),
                .event = strdup_null(r->event),
                .payload = json_object_get(r->payload),
                .xcomponent = r->xcomponent,
        };
        if (r->n_filters > 0) {
                if (filters_copy(r->filters, r->n_filters, &c->filters) < 0)
                        return routed_free(c);
                c->n_filters = r->n_filters;
        }
        if (r->n_rules > 0) {
                c->rules = calloc(r->n_rules, sizeof *c->rules);
                if (!c->rules)
                        return routed_free(c);
                for (size_t i = 0; i < r->n_rules; i++) {
                        c->rules[i].event_property = strdup(r->rules[i].event_property);
                        c->rules[i].instance_property = strdup(r->rules[i].instance_property);
                        c->rules[i].op = r->rules[i].op;
                        c->n_rules++;
                        if (!c->rules[i].event_property || !c->rules[i].instance_property)
                                return routed_free(c);
                }
                if (r->rule_values) {
                        if (values_alloc(c) < 0)
                                return routed_free(c);
                        for (size_t i = 0; i < r->n_rules; i++) {
                                c->rule_values[i] = json_object_get(r->rule_values[i]);
                                c->rule_has_value[i] = r->rule_has_value[i];
                        }
                }
        }
        if (!c->source_component || !c->target_component || !c->target_machine || (r->event && !c->event) ||
            (r->source_incarnation && !c->source_incarnation))
                return routed_free(c);
        return c;
}

/* The wire form, written straight into a buffer (json-buf.h): building a
 * json-c object of thirteen members only to print it cost more than a hop's
 * engine step (see "Benchmarks" in README.md). Members in the order readers
 * have always seen; the payload printed by json-c. */
static char *to_wire(const xfsm_routed *r, const char *incarnation, uint64_t seq) {
        JsonBuf b = {};

        json_buf_put(&b, "{", 1);
        json_buf_key(&b, "v");
        json_buf_u64(&b, XFSM_ROUTED_WIRE_VERSION);
        json_buf_key(&b, "kind");
        json_buf_string(&b, r->kind == XFSM_ROUTED_CREATE ? "create" : "event");
        json_buf_key(&b, "sourceComponent");
        json_buf_string(&b, r->source_component);
        if (!isempty(incarnation)) {
                json_buf_key(&b, "sourceIncarnation");
                json_buf_string(&b, incarnation);
        }
        json_buf_key(&b, "sourceSeq");
        json_buf_u64(&b, seq);
        json_buf_key(&b, "ruleIndex");
        json_buf_u64(&b, r->rule_index);
        json_buf_key(&b, "targetComponent");
        json_buf_string(&b, r->target_component);
        json_buf_key(&b, "targetMachine");
        json_buf_string(&b, r->target_machine);
        if (r->target_state) {
                json_buf_key(&b, "targetState");
                json_buf_string(&b, r->target_state);
        }
        if (r->event) {
                json_buf_key(&b, "event");
                json_buf_string(&b, r->event);
        }
        json_buf_key(&b, "payload");
        if (r->payload)
                json_buf_json(&b, r->payload);
        else
                json_buf_put(&b, "{}", 2);
        json_buf_key(&b, "matchingRules");
        json_buf_put(&b, "[", 1);
        for (size_t i = 0; i < r->n_rules; i++) {
                json_buf_put(&b, i ? ",{" : "{", i ? 2 : 1);
                json_buf_key(&b, "eventProperty");
                json_buf_string(&b, r->rules[i].event_property);
                json_buf_key(&b, "instanceProperty");
                json_buf_string(&b, r->rules[i].instance_property);
                json_buf_key(&b, "operator");
                json_buf_string(&b, match_op_to_string(r->rules[i].op));
                if (r->rule_values && r->rule_has_value[i]) {
                        json_buf_key(&b, "value");
                        if (r->rule_values[i])
                                json_buf_json(&b, r->rule_values[i]);
                        else
                                json_buf_put(&b, "null", 4);
                }
                json_buf_put(&b, "}", 1);
        }
        json_buf_put(&b, "]", 1);
        if (r->xcomponent) {
                json_buf_key(&b, "filters");
                json_buf_put(&b, "[", 1);
                for (size_t i = 0; i < r->n_filters; i++) {
                        json_buf_put(&b, i ? ",{" : "{", i ? 2 : 1);
                        json_buf_key(&b, "property");
                        json_buf_string(&b, r->filters[i].property);
                        json_buf_key(&b, "operator");
                        json_buf_string(&b, r->filters[i].op_text);
                        if (r->filters[i].has_value) {
                                json_buf_key(&b, "value");
                                if (r->filters[i].value)
                                        json_buf_json(&b, r->filters[i].value);
                                else
                                        json_buf_put(&b, "null", 4);
                        }
                        json_buf_put(&b, "}", 1);
                }
                json_buf_put(&b, "]", 1);
        }
        json_buf_key(&b, "hops");
        json_buf_u64(&b, r->hops);
        json_buf_put(&b, "}", 1);
        return json_buf_take(&b);
}

char *xfsm_routed_to_json(const xfsm_routed *r) {
        return to_wire(r, r->source_incarnation, r->source_seq);
}

char *xfsm_routed_to_wire(const xfsm_routed *r, const char *incarnation, uint64_t seq) {
        assert(r);
        return to_wire(r, incarnation, seq);
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* "filters": [{"property": P, "operator"?: OP, "value"?: V}]; -XFSM_E_INVALID_ARGUMENT when not of that form. */
static int filters_from_json(json_object *v, RoutedFilter **ret, size_t *ret_n) {
        RoutedFilter *f;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return -XFSM_E_INVALID_ARGUMENT;
        n = json_object_array_length(v);
        f = calloc(n ?: 1, sizeof *f);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *x = json_object_array_get_idx(v, i), *op, *value;
                const char *prop = get_str(x, "property");

                if (!prop || (json_object_object_get_ex(x, "operator", &op) && !json_object_is_type(op, json_type_string))) {
                        filters_free(f, i);
                        return -XFSM_E_INVALID_ARGUMENT;
                }
                f[i].property = strdup(prop);
                f[i].op_text = strdup(get_str(x, "operator") ?: "===");
                if (!f[i].property || !f[i].op_text) {
                        filters_free(f, i + 1);
                        return -ENOMEM;
                }
                for (int k = MATCH_EQ; k <= MATCH_LE && !f[i].op_known; k++)
                        if (streq(f[i].op_text, match_op_to_string((MatchOp) k))) {
                                f[i].op = (MatchOp) k;
                                f[i].op_known = true;
                        }
                if (json_object_object_get_ex(x, "value", &value)) {
                        f[i].value = json_object_get(value);
                        f[i].has_value = true;
                }
        }
        *ret = f;
        *ret_n = n;
        return 0;
}

int routed_from_json(const char *text, xfsm_routed **ret) {
        json_tokener *tok;
        json_object *o, *v;
        xfsm_routed *r;
        const char *kind;
        int k;

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_parse_ex(tok, 0, text, strlen(text));
        if (o && json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                o = NULL;
        }
        json_tokener_free(tok);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -XFSM_E_INVALID_PAYLOAD;
        }
        if (json_object_object_get_ex(o, "v", &v) &&
            (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
             json_object_get_int64(v) > XFSM_ROUTED_WIRE_VERSION)) {
                json_object_put(o);
                return -XFSM_E_INVALID_ARGUMENT; /* a version this reader does not know */
        }
        kind = get_str(o, "kind");
        if (!get_str(o, "targetComponent") || !get_str(o, "targetMachine") ||
            (!(kind && streq(kind, "create")) && !get_str(o, "event"))) {
                json_object_put(o);
                return -XFSM_E_INVALID_ARGUMENT; /* a required field missing */
        }
        r = calloc(1, sizeof *r);
        if (!r) {
                json_object_put(o);
                return -ENOMEM;
        }
        r->kind = kind && streq(kind, "create") ? XFSM_ROUTED_CREATE : XFSM_ROUTED_EVENT;
        r->source_component = strdup_null(get_str(o, "sourceComponent") ?: "");
        r->source_incarnation = strdup_null(get_str(o, "sourceIncarnation"));
        r->target_component = strdup_null(get_str(o, "targetComponent"));
        r->target_machine = strdup_null(get_str(o, "targetMachine"));
        r->target_state = strdup_null(get_str(o, "targetState"));
        r->event = strdup_null(get_str(o, "event"));
        if (json_object_object_get_ex(o, "sourceSeq", &v))
                r->source_seq = json_object_get_uint64(v);
        if (json_object_object_get_ex(o, "ruleIndex", &v))
                r->rule_index = (unsigned) json_object_get_int(v);
        if (json_object_object_get_ex(o, "hops", &v))
                r->hops = (unsigned) json_object_get_int(v);
        if (json_object_object_get_ex(o, "payload", &v) && json_object_is_type(v, json_type_object))
                r->payload = json_object_get(v);
        else
                r->payload = json_object_new_object();
        if (json_object_object_get_ex(o, "matchingRules", &v) && json_object_is_type(v, json_type_array)) {
                size_t n = json_object_array_length(v);
                r->rules = calloc(n ? n : 1, sizeof *r->rules);
                r->rule_values = calloc(n ? n : 1, sizeof *r->rule_values);
                r->rule_has_value = calloc(n ? n : 1, sizeof *r->rule_has_value);
                for (size_t i = 0; r->rules && r->rule_values && r->rule_has_value && i < n; i++) {
                        json_object *mr = json_object_array_get_idx(v, i), *value;
                        const char *ep = get_str(mr, "eventProperty"), *ip = get_str(mr, "instanceProperty"),
                                   *op = get_str(mr, "operator");
                        if (!ep || !ip)
                                continue;
                        if (json_object_object_get_ex(mr, "value", &value)) {
                                r->rule_values[r->n_rules] = json_object_get(value);
                                r->rule_has_value[r->n_rules] = true;
                        }
                        MatchingRule *x = &r->rules[r->n_rules++];
                        x->event_property = strdup(ep);
                        x->instance_property = strdup(ip);
                        x->op = MATCH_EQ;
                        for (int q = MATCH_EQ; op && q <= MATCH_LE; q++)
                                if (streq(op, match_op_to_string((MatchOp) q)))
                                        x->op = (MatchOp) q;
                }
                if (!r->rules || !r->rule_values || !r->rule_has_value) {
                        json_object_put(o);
                        routed_free(r);
                        return -ENOMEM;
                }
        }
        if (json_object_object_get_ex(o, "filters", &v)) {
                k = filters_from_json(v, &r->filters, &r->n_filters);
                if (k < 0) {
                        json_object_put(o);
                        routed_free(r);
                        return k;
                }
                r->xcomponent = true;
        }
        json_object_put(o);
        if (!r->source_component || !r->target_component || !r->target_machine ||
            (r->kind == XFSM_ROUTED_EVENT && !r->event) || !r->payload ||
            (r->n_rules > 0 && (!r->rules[r->n_rules - 1].event_property ||
                                !r->rules[r->n_rules - 1].instance_property))) {
                routed_free(r);
                return -ENOMEM; /* the fields are there (checked above): an allocation failed */
        }
        *ret = r;
        return 0;
}

xfsm_routed_kind xfsm_routed_get_kind(const xfsm_routed *r) {
        return r->kind;
}
int xfsm_routed_parse(const char *json, xfsm_routed **ret) {
        assert(json);
        assert(ret);
        return routed_from_json(json, ret);
}

xfsm_routed *xfsm_routed_free(xfsm_routed *r) {
        return routed_free(r);
}

const char *xfsm_routed_source_incarnation(const xfsm_routed *r) {
        return r->source_incarnation ?: "";
}

const char *xfsm_routed_source_component(const xfsm_routed *r) {
        return r->source_component;
}
uint64_t xfsm_routed_source_seq(const xfsm_routed *r) {
        return r->source_seq;
}
unsigned xfsm_routed_rule_index(const xfsm_routed *r) {
        return r->rule_index;
}
const char *xfsm_routed_target_component(const xfsm_routed *r) {
        return r->target_component;
}
const char *xfsm_routed_target_machine(const xfsm_routed *r) {
        return r->target_machine;
}
const char *xfsm_routed_target_state(const xfsm_routed *r) {
        return r->target_state;
}
const char *xfsm_routed_event(const xfsm_routed *r) {
        return r->event;
}
unsigned xfsm_routed_hops(const xfsm_routed *r) {
        return r->hops;
}
