/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Statecharts (xfsm.component(5)): exit and entry order, ancestor transitions,
 * self-transitions, history shallow and deep, parallel regions and their done
 * events, completion only at the top level. Entry and exit are recorded
 * through actions (named methods). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xfsm.h"

typedef struct Log {
        char buf[8192];
        size_t len;
} Log;

static void log_methods(void *userdata, const xfsm_step *s) {
        Log *l = userdata;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *f = xfsm_step_effect(s, k);
                int n = 0;
                if (xfsm_effect_get_kind(f) == XFSM_EFFECT_METHOD)
                        n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s ", xfsm_effect_method(f));
                else if (xfsm_effect_get_kind(f) == XFSM_EFFECT_TRANSITION)
                        n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "[%s>%s] ", xfsm_effect_from(f),
                                     xfsm_effect_to(f));
                if (n > 0 && (size_t) n < sizeof l->buf - l->len)
                        l->len += (size_t) n;
        }
}

static void fail_on_error(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                          const char *message) {
        (void) userdata;
        if (severity == XFSM_DIAG_ERROR)
                fail_msg("%s:%u:%u: %s", file, line, column, message);
}

static xfsm_engine *engine(const char *yaml, Log *log) {
        xfsm_engine *e = xfsm_engine_new();
        xfsm_engine_use_virtual_clock(e, 1700000000000ULL);
        assert_int_equal(xfsm_engine_load_string(e, "sc.yaml", yaml, strlen(yaml), fail_on_error, NULL), 0);
        if (log)
                xfsm_engine_set_step_handler(e, log_methods, log);
        return e;
}

static const char *send(xfsm_engine *e, xfsm_instance *i, const char *event) {
        const char *st = NULL;
        int r = xfsm_instance_send(e, i, event, NULL, &st);
        if (r < 0)
                fail_msg("%s refused: %s", event, xfsm_engine_last_error(e));
        return st;
}

static void reset(Log *l) {
        l->len = 0;
        l->buf[0] = 0;
}

/* A: { A1: { A1a, A1b }, A2 }, B */
static const char order_yaml[] =
        "name: Order\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states:\n"
        "      - name: A\n"
        "        onEntry: [inA]\n"
        "        onExit: [outA]\n"
        "        states:\n"
        "          - name: A1\n"
        "            onEntry: [inA1]\n"
        "            onExit: [outA1]\n"
        "            states:\n"
        "              - {name: A1a, onEntry: [inA1a], onExit: [outA1a]}\n"
        "              - {name: A1b, onEntry: [inA1b], onExit: [outA1b]}\n"
        "          - {name: A2, onEntry: [inA2], onExit: [outA2]}\n"
        "      - {name: B, onEntry: [inB], onExit: [outB]}\n"
        "    transitions:\n"
        "      - {from: A, to: B, event: LEAVE, triggeredMethod: go}\n"
        "      - {from: A1a, to: A1b, event: NEXT}\n"
        "      - {from: A1, to: A2, event: NEXT}\n"
        "      - {from: B, to: A1b, event: DEEP}\n"
        "      - {from: A1, to: A1, event: AGAIN}\n"
        "      - {from: A1, to: A1b, event: INNER, type: internal}\n";

static void test_entry_outermost_first_exit_innermost_first(void **state) {
        Log log = {};
        xfsm_engine *e = engine(order_yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(log.buf, "inA inA1 inA1a ");
        assert_string_equal(xfsm_instance_state(i), "A1a");
        reset(&log);
        assert_string_equal(send(e, i, "LEAVE"), "B");
        /* exit innermost first, then the transition's own, then enter */
        assert_string_equal(log.buf, "outA1a outA1 outA go inB [A1a>B] ");
        reset(&log);
        /* a target deep inside: its ancestors are entered first */
        assert_string_equal(send(e, i, "DEEP"), "A1b");
        assert_string_equal(log.buf, "outB inA inA1 inA1b [B>A1b] ");
        xfsm_engine_free(e);
}

static void test_innermost_transition_wins_over_ancestors(void **state) {
        Log log = {};
        xfsm_engine *e = engine(order_yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        /* NEXT is on A1a (innermost) and on A1: A1a's is taken */
        assert_string_equal(send(e, i, "NEXT"), "A1b");
        /* from A1b only A1's NEXT applies: the ancestor's transition covers its descendants */
        assert_string_equal(send(e, i, "NEXT"), "A2");
        xfsm_engine_free(e);
}

static void test_self_transition_exits_and_reenters_internal_does_not(void **state) {
        Log log = {};
        xfsm_engine *e = engine(order_yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(send(e, i, "NEXT"), "A1b");
        reset(&log);
        assert_string_equal(send(e, i, "AGAIN"), "A1a"); /* back to A1's initial child */
        assert_string_equal(log.buf, "outA1b outA1 inA1 inA1a [A1b>A1a] ");
        reset(&log);
        assert_string_equal(send(e, i, "INNER"), "A1b"); /* internal: A1 is not left */
        assert_string_equal(log.buf, "outA1a inA1b [A1a>A1b] ");
        xfsm_engine_free(e);
}

static const char history_yaml[] =
        "name: Hist\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: Shallow\n"
        "    states:\n"
        "      - name: Shallow\n"
        "        history: shallow\n"
        "        states:\n"
        "          - name: S1\n"
        "          - name: S2\n"
        "            states: [{name: S2a}, {name: S2b}]\n"
        "      - name: Deep\n"
        "        history: deep\n"
        "        states:\n"
        "          - name: D1\n"
        "          - name: D2\n"
        "            states: [{name: D2a}, {name: D2b}]\n"
        "      - name: Away\n"
        "    transitions:\n"
        "      - {from: S1, to: S2b, event: GO}\n"
        "      - {from: D1, to: D2b, event: GO}\n"
        "      - {from: Shallow, to: Away, event: OUT}\n"
        "      - {from: Deep, to: Away, event: OUT}\n"
        "      - {from: Away, to: Shallow, event: BACK_SHALLOW}\n"
        "      - {from: Away, to: Deep, event: BACK_DEEP}\n"
        "      - {from: Shallow, to: Deep, event: SWITCH}\n";

static void test_history_shallow_resumes_the_child_deep_the_leaf(void **state) {
        xfsm_engine *e = engine(history_yaml, NULL);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(xfsm_instance_state(i), "S1");
        assert_string_equal(send(e, i, "GO"), "S2b");
        assert_string_equal(send(e, i, "OUT"), "Away");
        /* shallow: S2 again, but S2's own initial child, not S2b */
        assert_string_equal(send(e, i, "BACK_SHALLOW"), "S2a");

        assert_string_equal(send(e, i, "SWITCH"), "D1");
        assert_string_equal(send(e, i, "GO"), "D2b");
        assert_string_equal(send(e, i, "OUT"), "Away");
        /* deep: exactly where it was */
        assert_string_equal(send(e, i, "BACK_DEEP"), "D2b");
        xfsm_engine_free(e);
}

static const char parallel_yaml[] =
        "name: Par\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: Work\n"
        "    states:\n"
        "      - name: Work\n"
        "        type: parallel\n"
        "        onEntry: [inWork]\n"
        "        states:\n"
        "          - name: Left\n"
        "            onEntry: [inLeft]\n"
        "            states: [{name: L1, onEntry: [inL1]}, {name: LDone, type: final}]\n"
        "          - name: Right\n"
        "            onEntry: [inRight]\n"
        "            states: [{name: R1, onEntry: [inR1]}, {name: RDone, type: final}]\n"
        "      - name: Finished\n"
        "        type: final\n"
        "    transitions:\n"
        "      - {from: L1, to: LDone, event: FINISH}\n"
        "      - {from: R1, to: RDone, event: FINISH}\n"
        "      - {from: L1, to: LDone, event: LEFT}\n"
        "      - {from: R1, to: RDone, event: RIGHT}\n"
        "      - {from: Left, to: Left, event: done.state.Left, triggeredMethod: leftDone}\n"
        "      - {from: Work, to: Finished, event: done.state.Work}\n";

static void test_parallel_regions_and_done_events(void **state) {
        Log log = {};
        xfsm_engine *e = engine(parallel_yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        /* both regions entered, in document order, outermost first */
        assert_string_equal(log.buf, "inWork inLeft inL1 inRight inR1 ");
        assert_string_equal(xfsm_instance_state(i), "L1,R1");
        assert_string_equal(xfsm_instance_status(i), "active");

        /* one region done: done.state.Left, not yet done.state.Work */
        reset(&log);
        assert_string_equal(send(e, i, "LEFT"), "L1,R1"); /* Left's own done handler re-enters Left */
        assert_non_null(strstr(log.buf, "leftDone"));

        /* one event taken in both regions at once */
        assert_string_equal(send(e, i, "FINISH"), "Finished");
        assert_string_equal(xfsm_instance_status(i), "completed");
        xfsm_engine_free(e);
}

static void test_nested_final_does_not_complete_the_instance(void **state) {
        static const char yaml[] = "name: N\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: Outer\n"
                                   "    states:\n"
                                   "      - name: Outer\n"
                                   "        states: [{name: Busy}, {name: Idle, type: final}]\n"
                                   "    transitions: [{from: Busy, to: Idle, event: STOP}]\n";
        xfsm_engine *e = engine(yaml, NULL);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(send(e, i, "STOP"), "Idle");
        assert_string_equal(xfsm_instance_status(i), "active"); /* only a top-level final completes */
        xfsm_engine_free(e);
}

static void test_timeouts_of_nested_states(void **state) {
        static const char yaml[] = "name: T\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: Session\n"
                                   "    states:\n"
                                   "      - name: Session\n"
                                   "        states: [{name: Active}, {name: Idle}]\n"
                                   "      - name: Expired\n"
                                   "    transitions:\n"
                                   "      - {from: Session, to: Expired, event: EXPIRE, type: timeout, timeoutMs: 1000}\n"
                                   "      - {from: Active, to: Idle, event: IDLE, type: timeout, timeoutMs: 100}\n";
        xfsm_engine *e = engine(yaml, NULL);
        xfsm_instance *i = NULL;
        char id[64];
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));
        assert_int_equal(xfsm_instance_n_timers(i), 2);
        xfsm_engine_advance(e, 100);
        assert_string_equal(xfsm_instance_state(xfsm_engine_find(e, id)), "Idle");
        /* the parent's timeout keeps running while children change */
        xfsm_engine_advance(e, 900);
        assert_string_equal(xfsm_instance_state(xfsm_engine_find(e, id)), "Expired");
        xfsm_engine_free(e);
}

static int count(void *userdata, xfsm_instance *i) {
        (void) i;
        (*(unsigned *) userdata)++;
        return 0;
}

static void test_statechart_instances_are_listed_by_any_active_state(void **state) {
        xfsm_engine *e = engine(parallel_yaml, NULL);
        unsigned n = 0;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, NULL), 0);
        xfsm_engine_foreach(e, NULL, "M", "Work", count, &n);
        xfsm_engine_foreach(e, NULL, "M", "R1", count, &n);
        xfsm_engine_foreach(e, NULL, "M", "L1,R1", count, &n);
        xfsm_engine_foreach(e, NULL, "M", "LDone", count, &n);
        assert_int_equal(n, 3);
        xfsm_engine_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_entry_outermost_first_exit_innermost_first),
                cmocka_unit_test(test_innermost_transition_wins_over_ancestors),
                cmocka_unit_test(test_self_transition_exits_and_reenters_internal_does_not),
                cmocka_unit_test(test_history_shallow_resumes_the_child_deep_the_leaf),
                cmocka_unit_test(test_parallel_regions_and_done_events),
                cmocka_unit_test(test_nested_final_does_not_complete_the_instance),
                cmocka_unit_test(test_timeouts_of_nested_states),
                cmocka_unit_test(test_statechart_instances_are_listed_by_any_active_state),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
