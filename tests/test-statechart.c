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

/* ---- the SCXML algorithm (W3C SCXML 1.0, Appendix D) ----------------------
 *
 * Each expected result below is worked out by hand from the algorithm's
 * procedures (selectTransitions, removeConflictingTransitions,
 * computeExitSet, getTransitionDomain, computeEntrySet, microstep,
 * mainEventLoop), not read from xfsm's output; the comment of each test
 * says how. */

/* P (parallel) { R1 { A1, A2 }, R2 { B1 } } */
static const char parallel_internal_yaml[] =
        "name: PI\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: P\n"
        "    states:\n"
        "      - name: P\n"
        "        type: parallel\n"
        "        onEntry: [inP]\n"
        "        onExit: [outP]\n"
        "        states:\n"
        "          - name: R1\n"
        "            onEntry: [inR1]\n"
        "            onExit: [outR1]\n"
        "            states:\n"
        "              - {name: A1, onEntry: [inA1], onExit: [outA1]}\n"
        "              - {name: A2, onEntry: [inA2], onExit: [outA2]}\n"
        "          - name: R2\n"
        "            onEntry: [inR2]\n"
        "            onExit: [outR2]\n"
        "            states:\n"
        "              - {name: B1, onEntry: [inB1], onExit: [outB1]}\n"
        "    transitions:\n"
        "      - {from: P, to: A2, event: GO, type: internal}\n"
        "      - {from: R1, to: A2, event: INNER, type: internal}\n";

static void test_internal_transition_from_parallel_state_is_external(void **state) {
        Log log = {};
        xfsm_engine *e = engine(parallel_internal_yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(xfsm_instance_state(i), "A1,B1");
        /* getTransitionDomain: P is not compound, so the domain is the LCCA of
         * P and A2, the document root: every active state is exited (reverse
         * document order) and P entered again with both regions */
        reset(&log);
        assert_string_equal(send(e, i, "GO"), "A2,B1");
        assert_string_equal(log.buf, "outB1 outR2 outA1 outR1 outP inP inR1 inA2 inR2 inB1 [A1,B1>A2,B1] ");
        /* R1 is compound and A2 its descendant: internal, only A2 left and entered */
        reset(&log);
        assert_string_equal(send(e, i, "INNER"), "A2,B1");
        assert_string_equal(log.buf, "outA2 inA2 [A2,B1>A2,B1] ");
        xfsm_engine_free(e);
}

/* Rule 1: after a microstep the eventless transitions come before the
 * events already queued (mainEventLoop: selectEventlessTransitions first,
 * the internal queue only when none is enabled). */
static void test_eventless_before_queued_events(void **state) {
        static const char yaml[] = "name: R1\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: A\n"
                                   "    semantics: scxml\n"
                                   "    states:\n"
                                   "      - name: A\n"
                                   "        onEntry: [{send: {to: self, event: PING}}]\n"
                                   "      - {name: B}\n"
                                   "      - {name: C}\n"
                                   "      - {name: Wrong}\n"
                                   "    transitions:\n"
                                   "      - {from: A, to: Wrong, event: PING}\n"
                                   "      - {from: A, to: B}\n"
                                   "      - {from: B, to: C, event: PING}\n"
                                   "  - name: Auto\n"
                                   "    initialState: A\n"
                                   "    states:\n"
                                   "      - name: Box\n"
                                   "        states:\n"
                                   "          - name: A\n"
                                   "            onEntry: [{send: {to: self, event: PING}}]\n"
                                   "          - {name: B}\n"
                                   "      - {name: C}\n"
                                   "      - {name: Wrong}\n"
                                   "    transitions:\n"
                                   "      - {from: A, to: Wrong, event: PING}\n"
                                   "      - {from: A, to: B, event: SKIP, type: auto}\n"
                                   "      - {from: B, to: C, event: PING}\n";
        Log log = {};
        xfsm_engine *e = engine(yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        /* enter A (PING queued); eventless A -> B; then PING, in B: C */
        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(xfsm_instance_state(i), "C");
        assert_string_equal(log.buf, "[A>B] [B>C] ");
        /* the same with an auto transition without timeoutMs in a statechart */
        reset(&log);
        assert_int_equal(xfsm_engine_create(e, NULL, "Auto", NULL, &i), 0);
        assert_string_equal(xfsm_instance_state(i), "C");
        assert_string_equal(log.buf, "[A>B] [B>C] ");
        xfsm_engine_free(e);
}

/* Rule 2: the eventless transitions enabled in both regions are one
 * microstep: every exit, then the transitions' content in the order their
 * states were selected (document order), then every entry. */
static void test_eventless_in_two_regions_is_one_microstep(void **state) {
        static const char yaml[] = "name: R2\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: P\n"
                                   "    states:\n"
                                   "      - name: P\n"
                                   "        type: parallel\n"
                                   "        states:\n"
                                   "          - name: R1\n"
                                   "            states:\n"
                                   "              - {name: A1, onExit: [outA1]}\n"
                                   "              - {name: A2, onEntry: [inA2]}\n"
                                   "          - name: R2\n"
                                   "            states:\n"
                                   "              - {name: B1, onExit: [outB1]}\n"
                                   "              - {name: B2, onEntry: [inB2]}\n"
                                   "    transitions:\n"
                                   "      - {from: P, event: SET, actions: [{assign: {go: '1'}}]}\n"
                                   "      - {from: B1, to: B2, guard: 'go == 1', triggeredMethod: tB}\n"
                                   "      - {from: A1, to: A2, guard: 'go == 1', triggeredMethod: tA}\n";
        Log log = {};
        xfsm_engine *e = engine(yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(xfsm_instance_state(i), "A1,B1"); /* no guard holds yet */
        reset(&log);
        /* SET: a targetless microstep; then one eventless microstep of both */
        assert_string_equal(send(e, i, "SET"), "A2,B2");
        assert_string_equal(log.buf, "[A1,B1>A1,B1] outB1 outA1 tA tB inA2 inB2 [A1,B1>A2,B2] ");
        xfsm_engine_free(e);
}

/* Rule 3: eventless transitions are selected again after each microstep
 * while any is enabled; one enabled for ever is a loop, refused. */
static void test_eventless_again_while_enabled_and_bounded(void **state) {
        static const char yaml[] = "name: R3\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: Idle\n"
                                   "    semantics: scxml\n"
                                   "    states:\n"
                                   "      - {name: Idle}\n"
                                   "      - {name: Count}\n"
                                   "      - {name: Done}\n"
                                   "      - {name: Spin}\n"
                                   "    transitions:\n"
                                   "      - {from: Idle, to: Count, event: GO}\n"
                                   "      - {from: Idle, to: Spin, event: SPIN}\n"
                                   "      - {from: Count, guard: 'n < 5', actions: [{assign: {n: 'n + 1'}}]}\n"
                                   "      - {from: Count, to: Done, guard: 'n == 5'}\n"
                                   "      - {from: Spin, actions: [{assign: {n: 'n + 1'}}]}\n";
        Log log = {};
        xfsm_engine *e = engine(yaml, &log);
        xfsm_instance *i = NULL;
        const char *st = NULL;
        char *ctx;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", "{\"n\": 0}", &i), 0);
        reset(&log);
        /* GO, then five targetless microsteps (n 0..4 < 5), then Count -> Done */
        assert_string_equal(send(e, i, "GO"), "Done");
        assert_string_equal(log.buf, "[Idle>Count] [Count>Count] [Count>Count] [Count>Count] [Count>Count] "
                                     "[Count>Count] [Count>Done] ");
        ctx = xfsm_instance_context_json(i);
        assert_string_equal(ctx, "{\"n\":5}");
        free(ctx);
        xfsm_engine_free(e);

        /* an eventless transition always enabled: past the bound, the event fails
         * and the instance is as it was */
        e = engine(yaml, NULL);
        assert_int_equal(xfsm_engine_create(e, NULL, "M", "{\"n\": 0}", &i), 0);
        assert_int_equal(xfsm_instance_send(e, i, "SPIN", NULL, &st), -XFSM_E_LOOP);
        assert_string_equal(xfsm_instance_state(i), "Idle");
        ctx = xfsm_instance_context_json(i);
        assert_string_equal(ctx, "{\"n\":0}");
        free(ctx);
        xfsm_engine_free(e);
}

/* removeConflictingTransitions: P's own transition (selected through A1)
 * and B1's (selected next) exit states in common; B1 is a descendant of P,
 * so B1's preempts P's. Two transitions of unrelated sources: the first
 * selected wins. */
static void test_conflicts_resolved_as_scxml_does(void **state) {
        static const char yaml[] = "name: CF\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: P\n"
                                   "    states:\n"
                                   "      - name: P\n"
                                   "        type: parallel\n"
                                   "        states:\n"
                                   "          - name: R1\n"
                                   "            states: [{name: A1}]\n"
                                   "          - name: R2\n"
                                   "            states: [{name: B1}, {name: B2}]\n"
                                   "      - {name: X}\n"
                                   "      - {name: Y}\n"
                                   "    transitions:\n"
                                   "      - {from: P, to: X, event: E}\n"
                                   "      - {from: B1, to: B2, event: E}\n"
                                   "      - {from: A1, to: X, event: F}\n"
                                   "      - {from: B1, to: Y, event: F}\n";
        xfsm_engine *e = engine(yaml, NULL);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(send(e, i, "E"), "A1,B2");
        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(send(e, i, "F"), "X");
        xfsm_engine_free(e);
}

/* A targetless transition: its content runs, no state is exited or entered
 * (computeExitSet is empty without targets), timers run on. */
static void test_targetless_leaves_nothing(void **state) {
        static const char yaml[] = "name: TL\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: A\n"
                                   "    states:\n"
                                   "      - name: A\n"
                                   "        onEntry: [inA]\n"
                                   "        onExit: [outA]\n"
                                   "        states:\n"
                                   "          - {name: A1, onEntry: [inA1], onExit: [outA1]}\n"
                                   "      - {name: Late}\n"
                                   "    transitions:\n"
                                   "      - {from: A, event: NOTE, triggeredMethod: noted}\n"
                                   "      - {from: A1, to: Late, event: LATE, type: timeout, timeoutMs: 1000}\n";
        Log log = {};
        xfsm_engine *e = engine(yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_int_equal(xfsm_engine_advance(e, 600), 0);
        reset(&log);
        assert_string_equal(send(e, i, "NOTE"), "A1");
        assert_string_equal(log.buf, "noted [A1>A1] ");
        /* A1's timeout was not armed again: it fires 1000 ms after the entry */
        assert_int_equal(xfsm_engine_advance(e, 399), 0);
        assert_int_equal(xfsm_engine_advance(e, 1), 1);
        assert_string_equal(xfsm_instance_state(i), "Late");
        xfsm_engine_free(e);
}

/* enterStates: done.state.<parallel> is raised when the last region's
 * final state is entered, after that region's own done event, once even
 * when every region becomes final in one microstep. */
static void test_parallel_done_once_after_the_regions(void **state) {
        static const char yaml[] = "name: PD\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: P\n"
                                   "    states:\n"
                                   "      - name: P\n"
                                   "        type: parallel\n"
                                   "        states:\n"
                                   "          - name: R1\n"
                                   "            states: [{name: A1}, {name: A2, type: final}]\n"
                                   "          - name: R2\n"
                                   "            states: [{name: B1}, {name: B2, type: final}]\n"
                                   "    transitions:\n"
                                   "      - {from: A1, to: A2, event: GO}\n"
                                   "      - {from: B1, to: B2, event: GO}\n"
                                   "      - {from: P, event: done.state.R1, actions: [{assign: {log: 'log * 10 + 1'}}]}\n"
                                   "      - {from: P, event: done.state.R2, actions: [{assign: {log: 'log * 10 + 2'}}]}\n"
                                   "      - {from: P, event: done.state.P, actions: [{assign: {log: 'log * 10 + 3'}}]}\n";
        xfsm_engine *e = engine(yaml, NULL);
        xfsm_instance *i = NULL;
        char *ctx;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", "{\"log\": 0}", &i), 0);
        assert_string_equal(send(e, i, "GO"), "A2,B2");
        ctx = xfsm_instance_context_json(i);
        assert_string_equal(ctx, "{\"log\":123}"); /* R1's, R2's, then P's, each once */
        free(ctx);
        xfsm_engine_free(e);
}

/* enterStates raises done.state.<P> for a parallel grandparent P of the
 * final state entered when every child of P is in a final state
 * (isInFinalState: a region that is itself parallel is in one when each
 * of its regions is). Only the entered final's grandparent is looked at:
 * when Q's regions finish last, done.state.Q is raised, and done.state.P
 * never (a final entered below Q does not look at P). */
static void test_parallel_done_with_a_parallel_region(void **state) {
        static const char yaml[] = "name: PP\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: P\n"
                                   "    states:\n"
                                   "      - name: P\n"
                                   "        type: parallel\n"
                                   "        states:\n"
                                   "          - name: R1\n"
                                   "            states: [{name: A}, {name: AF, type: final}]\n"
                                   "          - name: Q\n"
                                   "            type: parallel\n"
                                   "            states:\n"
                                   "              - name: Q1\n"
                                   "                states: [{name: B}, {name: BF, type: final}]\n"
                                   "              - name: Q2\n"
                                   "                states: [{name: C}, {name: CF, type: final}]\n"
                                   "      - {name: Done, type: final}\n"
                                   "    transitions:\n"
                                   "      - {from: A, to: AF, event: FIRST}\n"
                                   "      - {from: B, to: BF, event: LAST}\n"
                                   "      - {from: C, to: CF, event: LAST}\n"
                                   "      - {from: P, event: done.state.Q, triggeredMethod: doneQ}\n"
                                   "      - {from: P, event: done.state.R1, triggeredMethod: doneR1}\n"
                                   "      - {from: P, to: Done, event: done.state.P}\n";
        Log log = {};
        xfsm_engine *e = engine(yaml, &log);
        xfsm_instance *i = NULL;
        (void) state;

        /* Q's regions first (done.state.Q), then R1's final: its grandparent P
         * has R1 in AF and Q in final states, done.state.P follows done.state.R1 */
        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(send(e, i, "LAST"), "A,BF,CF");
        assert_string_equal(log.buf, "[A,B,C>A,BF,CF] doneQ [A,BF,CF>A,BF,CF] ");
        reset(&log);
        assert_string_equal(send(e, i, "FIRST"), "Done");
        assert_string_equal(log.buf, "[A,BF,CF>AF,BF,CF] doneR1 [AF,BF,CF>AF,BF,CF] [AF,BF,CF>Done] ");
        assert_string_equal(xfsm_instance_status(i), "completed");

        /* R1 first: entering CF looks at Q (done.state.Q), not at P */
        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_string_equal(send(e, i, "FIRST"), "AF,B,C");
        assert_string_equal(send(e, i, "LAST"), "AF,BF,CF");
        assert_string_equal(xfsm_instance_status(i), "active");
        xfsm_engine_free(e);
}

/* A timer that fires takes its own transition alone (as XState's delayed
 * transitions, whose event no other transition has); the event sent by
 * name is selected in every region, the innermost transition winning. */
static void test_fired_timer_takes_its_own_transition(void **state) {
        static const char yaml[] = "name: TT\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: P\n"
                                   "    states:\n"
                                   "      - name: P\n"
                                   "        type: parallel\n"
                                   "        states:\n"
                                   "          - {name: R1, states: [{name: A}, {name: A2}]}\n"
                                   "          - {name: R2, states: [{name: B}, {name: B2}]}\n"
                                   "    transitions:\n"
                                   "      - {from: A, to: A2, event: TICK, type: timeout, timeoutMs: 100}\n"
                                   "      - {from: B, to: B2, event: TICK}\n"
                                   "  - name: N\n"
                                   "    initialState: S\n"
                                   "    states:\n"
                                   "      - {name: S, states: [{name: S1}, {name: S2}, {name: S3}]}\n"
                                   "    transitions:\n"
                                   "      - {from: S, to: S3, event: TICK, type: timeout, timeoutMs: 100}\n"
                                   "      - {from: S1, to: S2, event: TICK}\n";
        xfsm_engine *e = engine(yaml, NULL);
        xfsm_instance *i = NULL, *j = NULL, *k = NULL, *l = NULL;
        (void) state;

        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &i), 0);
        assert_int_equal(xfsm_engine_create(e, NULL, "N", NULL, &k), 0);
        assert_int_equal(xfsm_engine_advance(e, 100), 2);
        assert_string_equal(xfsm_instance_state(i), "A2,B");
        assert_string_equal(xfsm_instance_state(k), "S3");
        assert_int_equal(xfsm_engine_create(e, NULL, "M", NULL, &j), 0);
        assert_string_equal(send(e, j, "TICK"), "A2,B2");
        assert_int_equal(xfsm_engine_create(e, NULL, "N", NULL, &l), 0);
        assert_string_equal(send(e, l, "TICK"), "S2");
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
                cmocka_unit_test(test_internal_transition_from_parallel_state_is_external),
                cmocka_unit_test(test_eventless_before_queued_events),
                cmocka_unit_test(test_eventless_in_two_regions_is_one_microstep),
                cmocka_unit_test(test_eventless_again_while_enabled_and_bounded),
                cmocka_unit_test(test_conflicts_resolved_as_scxml_does),
                cmocka_unit_test(test_targetless_leaves_nothing),
                cmocka_unit_test(test_parallel_done_once_after_the_regions),
                cmocka_unit_test(test_parallel_done_with_a_parallel_region),
                cmocka_unit_test(test_fired_timer_takes_its_own_transition),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
