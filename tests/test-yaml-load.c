/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The loader: the xcomponent corpus loads, broken files give exactly the
 * FILE:LINE:COLUMN their .expect file names, warnings for what xfsm does not
 * use, and nothing is added by a failed load. */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xfsm.h"

typedef struct Collected {
        char text[16384];
        size_t len;
        unsigned errors, warnings;
} Collected;

static void collect(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                    const char *message) {
        Collected *c = userdata;
        int n;
        (void) file;
        if (severity == XFSM_DIAG_ERROR)
                c->errors++;
        else
                c->warnings++;
        n = snprintf(c->text + c->len, sizeof c->text - c->len, "%u:%u: %s: %s\n", line, column,
                     severity == XFSM_DIAG_ERROR ? "error" : "warning", message);
        if (n > 0 && (size_t) n < sizeof c->text - c->len)
                c->len += (size_t) n;
}

static const char *data_dir(void) {
        const char *d = getenv("XFSM_TEST_DATA");
        return d ? d : "tests/data";
}

static int load(xfsm_engine *e, const char *yaml, Collected *c) {
        return xfsm_engine_load_string(e, "t.yaml", yaml, strlen(yaml), collect, c);
}

/* "L:C: text" must be an error at exactly L:C whose message contains text */
static bool has_error(const Collected *c, const char *expect) {
        char want[512];
        const char *colon1 = strchr(expect, ':'), *colon2 = colon1 ? strchr(colon1 + 1, ':') : NULL;
        if (!colon2)
                return false;
        snprintf(want, sizeof want, "%.*s: error: ", (int) (colon2 - expect), expect);
        for (const char *p = c->text; (p = strstr(p, want)); p++) {
                const char *eol = strchr(p, '\n');
                const char *msg = colon2 + 2;
                if (p != c->text && p[-1] != '\n')
                        continue;
                if (memmem(p, (size_t) (eol - p), msg, strlen(msg)))
                        return true;
        }
        return false;
}

static void test_broken_files_give_exact_positions(void **state) {
        char dir[1024], path[2048], exp[2048], line[512];
        struct dirent *de;
        unsigned n_files = 0;
        DIR *d;
        (void) state;

        snprintf(dir, sizeof dir, "%s/broken", data_dir());
        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                xfsm_engine *e;
                Collected c = {};
                FILE *f;

                if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                snprintf(exp, sizeof exp, "%s/%.*s.expect", dir, (int) (len - 5), de->d_name);
                e = xfsm_engine_new();
                assert_int_equal(xfsm_engine_load_file(e, path, collect, &c), -XFSM_E_LOAD_FAILED);
                assert_int_equal(xfsm_engine_n_components(e), 0);
                f = fopen(exp, "re");
                if (!f)
                        fail_msg("%s has no .expect file", path);
                while (fgets(line, sizeof line, f)) {
                        line[strcspn(line, "\n")] = 0;
                        if (!*line)
                                continue;
                        if (!has_error(&c, line))
                                fail_msg("%s: expected error '%s', got:\n%s", path, line, c.text);
                }
                fclose(f);
                xfsm_engine_free(e);
                n_files++;
        }
        closedir(d);
        assert_true(n_files >= 15);
}

static const char *const corpus[] = {
        "advanced-patterns-demo.yaml",
        "approval-workflow__component.yaml",
        "complete-workflow-all-features.yaml",
        "cross-component-demo.yaml",
        "demo-order.yaml",
        "demo-payment.yaml",
        "distributed-kafka__order-component.yaml",
        "distributed-kafka__payment-component.yaml",
        "distributed-redis__order-component.yaml",
        "distributed-redis__payment-component.yaml",
        "distributed__order-component.yaml",
        "distributed__payment-component.yaml",
        "e-commerce-order__component.yaml",
        "ecommerce__fsm__SportShopComponent.yaml",
        "event-accumulation-demo.yaml",
        "explicit-transitions-demo.yaml",
        "kyc.yaml",
        "order-processing-xcomponent.yaml",
        "payment-receiver.yaml",
        "simple-xcomponent-demo.yaml",
        "subscription-lifecycle__component.yaml",
        "trading-complete.yaml",
        "trading-with-schema.yaml",
        "trading.yaml",
        "xcomponent-pattern-demo.yaml",
};

static void test_xcomponent_corpus_loads(void **state) {
        char path[2048];
        (void) state;

        for (size_t k = 0; k < sizeof corpus / sizeof *corpus; k++) {
                xfsm_engine *e = xfsm_engine_new();
                Collected c = {};
                snprintf(path, sizeof path, "%s/xcomponent/%s", data_dir(), corpus[k]);
                if (xfsm_engine_load_file(e, path, collect, &c) < 0)
                        fail_msg("%s did not load:\n%s", path, c.text);
                assert_int_equal(c.errors, 0);
                assert_int_equal(xfsm_engine_start(e), 0);
                xfsm_engine_free(e);
        }
}

static void test_payment_yaml_refused_at_the_refunded_line(void **state) {
        char path[2048];
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        snprintf(path, sizeof path, "%s/xcomponent/payment.yaml", data_dir());
        assert_int_equal(xfsm_engine_load_file(e, path, collect, &c), -XFSM_E_LOAD_FAILED);
        assert_true(has_error(&c, "93:13: 'to' names unknown state 'Refunded' in machine 'Payment'"));
        assert_int_equal(c.errors, 1);
        xfsm_engine_free(e);
}

static void test_demo_order_warns_about_broadcast_cascade(void **state) {
        char path[2048];
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        snprintf(path, sizeof path, "%s/xcomponent/demo-order.yaml", data_dir());
        assert_int_equal(xfsm_engine_load_file(e, path, collect, &c), 0);
        assert_non_null(strstr(c.text, "39:13: warning: cascade without matchingRules: 'PROCESS' goes to every "
                                       "PaymentComponent.Payment in state 'Pending'"));
        xfsm_engine_free(e);
}

static void test_unknown_keys_are_warnings(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        assert_int_equal(load(e,
                              "name: C\n"
                              "layout: {x: 1}\n"
                              "colour: blue\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    initialState: A\n"
                              "    states:\n"
                              "      - {name: A, displayColor: red}\n"
                              "      - {name: B}\n"
                              "    transitions: [{from: A, to: B, event: GO, uiHint: 3}]\n",
                              &c),
                         0);
        assert_int_equal(c.errors, 0);
        assert_non_null(strstr(c.text, "3:1: warning: unknown key 'colour' in the component"));
        assert_non_null(strstr(c.text, "8:19: warning: unknown key 'displayColor' in a state"));
        assert_non_null(strstr(c.text, "10:47: warning: unknown key 'uiHint' in a transition"));
        assert_null(strstr(c.text, "layout"));
        xfsm_engine_free(e);
}

static void test_unreachable_state_is_a_warning_and_guards_load(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        assert_int_equal(load(e,
                              "name: C\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    initialState: A\n"
                              "    states: [{name: A}, {name: B}, {name: Island}]\n"
                              "    transitions:\n"
                              "      - {from: A, to: B, event: GO, guard: 'context.x > 1'}\n"
                              "      - {from: A, to: B, event: GO2, guard: {expression: 'amount <= 5'}}\n"
                              "      - {from: B, to: A, event: back}\n",
                              &c),
                         0);
        assert_non_null(strstr(c.text, "5:43: warning: state 'Island' of machine 'M' is unreachable from 'A'"));
        assert_null(strstr(c.text, "guard")); /* both forms load, no word about them */
        assert_non_null(strstr(c.text, "9:33: warning: event name 'back' does not follow the convention"));
        xfsm_engine_free(e);
}

/* eventless and targetless transitions load in a statechart; the warnings
 * about them point at them */
static void test_eventless_and_targetless_warnings(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        assert_int_equal(load(e,
                              "name: C\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    semantics: scxml\n"
                              "    initialState: A\n"
                              "    states: [{name: A}, {name: B}]\n"
                              "    transitions:\n"
                              "      - {from: A, to: B}\n"
                              "      - {from: A, to: A}\n"
                              "      - {from: B, actions: [{assign: {n: '1'}}]}\n"
                              "      - {from: B, event: NOTE, actions: [{assign: {n: '2'}}]}\n",
                              &c),
                         0);
        assert_non_null(strstr(c.text, "9:9: warning: transition from 'A' without event is never taken: the one at "
                                       "line 8 comes first"));
        assert_non_null(strstr(c.text, "10:9: warning: eventless transition from 'B' without 'to' or 'guard' is "
                                       "taken again and again"));
        assert_null(strstr(c.text, "11:")); /* a targetless transition on an event: nothing to say */
        xfsm_engine_free(e);
}

/* an internal transition SCXML takes as external, in a statechart: the
 * warning points at it and says why; one from a compound state to a
 * descendant, a targetless one and any in a flat machine: nothing to say */
static void test_internal_transitions_taken_as_external_are_warned_about(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        assert_int_equal(load(e,
                              "name: I\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    initialState: P\n"
                              "    states:\n"
                              "      - name: P\n"
                              "        type: parallel\n"
                              "        states:\n"
                              "          - {name: R1, states: [{name: A1}, {name: A2}]}\n"
                              "          - {name: R2, states: [{name: B1}]}\n"
                              "      - {name: X}\n"
                              "    transitions:\n"
                              "      - {from: P, to: A2, event: GO, type: internal}\n"
                              "      - {from: A1, to: A1, event: LOOP, type: internal}\n"
                              "      - {from: R1, to: X, event: OUT, type: internal}\n"
                              "      - {from: R1, to: A2, event: IN, type: internal}\n"
                              "      - {from: A1, event: NOTE, type: internal}\n"
                              "  - name: Flat\n"
                              "    initialState: A\n"
                              "    states: [{name: A}, {name: B}]\n"
                              "    transitions:\n"
                              "      - {from: A, to: A, event: LOOP, type: internal}\n"
                              "      - {from: A, to: B, event: GO, type: internal}\n",
                              &c),
                         0);
        assert_non_null(strstr(c.text, "13:9: warning: internal transition from 'P' to 'A2' is an external one (as in "
                                       "SCXML: its source is a parallel state): it exits 'P'"));
        assert_non_null(strstr(c.text, "14:9: warning: internal transition from 'A1' to 'A1' is an external one (as "
                                       "in SCXML: its source is an atomic state)"));
        assert_non_null(strstr(c.text, "15:9: warning: internal transition from 'R1' to 'X' is an external one (as in "
                                       "SCXML: its target is not a descendant of its source): it exits 'R1'"));
        assert_null(strstr(c.text, "16:"));
        assert_null(strstr(c.text, "17:"));
        assert_null(strstr(c.text, "22:"));
        assert_null(strstr(c.text, "23:"));
        xfsm_engine_free(e);
}

static void test_two_components_with_one_name_refused(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        const char *y = "name: Same\nstateMachines: [{name: M, initialState: A, states: [{name: A}]}]\n";
        (void) state;

        assert_int_equal(load(e, y, &c), 0);
        assert_int_equal(load(e, y, &c), -XFSM_E_LOAD_FAILED);
        assert_non_null(strstr(c.text, "component 'Same' is loaded already"));
        assert_int_equal(xfsm_engine_n_components(e), 1);
        xfsm_engine_free(e);
}

static void test_aliases_expand_and_are_bounded(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        /* an anchor used twice is fine */
        assert_int_equal(load(e,
                              "name: A\n"
                              "stateMachines:\n"
                              "  - &m {name: M, initialState: S, states: [{name: S}]}\n",
                              &c),
                         0);
        /* exponential expansion is refused, not run out of memory */
        assert_int_equal(load(e,
                              "name: B\n"
                              "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                              "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                              "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                              "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                              "stateMachines: [{name: M, initialState: S, states: [{name: S}]}]\n",
                              &c),
                         -XFSM_E_LOAD_FAILED);
        assert_non_null(strstr(c.text, "document too large"));
        xfsm_engine_free(e);
}

/* YAML's merge key, as js-yaml (xcomponent-ai's reader) applies it: the
 * mapping's own keys win, then the merged mappings' in order. */
static void test_merge_keys_as_js_yaml(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        xfsm_instance *i = NULL;
        Collected c = {};
        (void) state;

        assert_int_equal(load(e,
                              "name: Merge\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    initialState: A\n"
                              "    states: [{name: A}, {name: B}, {name: C}]\n"
                              "    transitions:\n"
                              "      - &go {from: A, to: B, event: GO}\n"
                              "      - <<: *go\n"
                              "        event: GO2\n"
                              "      - <<: [{to: C}, *go]\n"
                              "        event: GO3\n",
                              &c),
                         0);
        assert_null(strstr(c.text, "<<"));
        assert_int_equal(xfsm_engine_create(e, "Merge", "M", NULL, &i), 0);
        assert_int_equal(xfsm_instance_send(e, i, "GO2", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(i), "B");
        assert_int_equal(xfsm_engine_create(e, "Merge", "M", NULL, &i), 0);
        assert_int_equal(xfsm_instance_send(e, i, "GO3", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(i), "C"); /* the first merged mapping wins */

        /* anchors on what a merge takes out of the tree (the merged mapping, the '<<' key itself) stay
         * usable by aliases further on (they named freed nodes: found by fuzz-yaml-load) */
        assert_int_equal(load(e,
                              "name: Merge3\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    initialState: A\n"
                              "    states: [{name: A}, {name: B}, {name: C}]\n"
                              "    transitions:\n"
                              "      - <<: &base {from: A, to: B}\n"
                              "        event: GO\n"
                              "      - <<: *base\n"
                              "        event: GO2\n"
                              "      - &k <<: *base\n"
                              "        event: GO3\n"
                              "      - {from: A, to: C, event: GO4, note: *k}\n"
                              "      - <<: [*base, *base]\n"
                              "        event: GO5\n",
                              &c),
                         0);
        assert_int_equal(xfsm_engine_create(e, "Merge3", "M", NULL, &i), 0);
        assert_int_equal(xfsm_instance_send(e, i, "GO3", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(i), "B");
        assert_int_equal(xfsm_engine_create(e, "Merge3", "M", NULL, &i), 0);
        assert_int_equal(xfsm_instance_send(e, i, "GO5", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(i), "B");
        assert_int_equal(xfsm_engine_create(e, "Merge3", "M", NULL, &i), 0);
        assert_int_equal(xfsm_instance_send(e, i, "GO4", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(i), "C");

        /* a merge of something that is not a mapping is an error, with its position */
        assert_int_equal(load(e,
                              "name: Merge2\n"
                              "stateMachines:\n"
                              "  - name: M\n"
                              "    initialState: A\n"
                              "    <<: 5\n"
                              "    states: [{name: A}]\n",
                              &c),
                         -XFSM_E_LOAD_FAILED);
        assert_non_null(strstr(c.text, "5:9: error: merge key '<<' takes a mapping or a list of mappings"));
        xfsm_engine_free(e);
}

static void test_definition_json_and_hash(void **state) {
        xfsm_engine *e = xfsm_engine_new();
        Collected c = {};
        (void) state;

        assert_int_equal(load(e, "name: D\nversion: 2.0.1\nstateMachines: [{name: M, initialState: S, states: [{name: S}]}]\n",
                              &c),
                         0);
        assert_string_equal(xfsm_component_version(e, "D"), "2.0.1");
        assert_int_equal(strlen(xfsm_component_hash(e, "D")), 16);
        assert_non_null(strstr(xfsm_component_definition_json(e, "D"), "\"initialState\":\"S\""));
        assert_string_equal(xfsm_component_machine(e, "D", 0), "M");
        xfsm_engine_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_broken_files_give_exact_positions),
                cmocka_unit_test(test_xcomponent_corpus_loads),
                cmocka_unit_test(test_payment_yaml_refused_at_the_refunded_line),
                cmocka_unit_test(test_demo_order_warns_about_broadcast_cascade),
                cmocka_unit_test(test_unknown_keys_are_warnings),
                cmocka_unit_test(test_unreachable_state_is_a_warning_and_guards_load),
                cmocka_unit_test(test_eventless_and_targetless_warnings),
                cmocka_unit_test(test_internal_transitions_taken_as_external_are_warned_about),
                cmocka_unit_test(test_two_components_with_one_name_refused),
                cmocka_unit_test(test_aliases_expand_and_are_bounded),
                cmocka_unit_test(test_merge_keys_as_js_yaml),
                cmocka_unit_test(test_definition_json_and_hash),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
