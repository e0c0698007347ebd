/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Tests of the W3C SCXML 1.0 Implementation Report Plan (IRP) suite,
 * translated by hand into xfsm components (docs/scxml-irp.md lists them and
 * how each was translated). Each one, as in the IRP, ends in the final
 * state 'pass' or 'fail'; the counters of the IRP's datamodel are context
 * keys (Var1 ...), <raise> is a send to self, <assign> an assign action, an
 * eventless <transition cond> a transition without event and with a guard.
 * xfsm matches events by their whole name: the IRP's event="*" is written
 * out as a transition on each event the test raises. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xfsm.h"

static void fail_on_error(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                          const char *message) {
        if (severity == XFSM_DIAG_ERROR)
                fail_msg("%s:%u:%u: %s", file, line, column, message);
}

/* Load, create the one instance of M with the counters at 0, run to
 * completion: the outcome is the state it ends in. */
static void run_irp(const char *yaml, const char *outcome) {
        xfsm_engine *e = xfsm_engine_new();
        xfsm_instance *i = NULL;

        xfsm_engine_use_virtual_clock(e, 1700000000000ULL);
        assert_int_equal(xfsm_engine_load_string(e, "irp.yaml", yaml, strlen(yaml), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_create(e, NULL, "M",
                                            "{\"Var1\":0,\"Var2\":0,\"Var3\":0,\"Var4\":0,\"Var5\":0}", &i),
                         0);
        assert_string_equal(xfsm_instance_state(i), outcome);
        assert_string_equal(xfsm_instance_status(i), "completed");
        xfsm_engine_free(e);
}

#define HEAD(initial)                                                                                                 \
        "name: IRP\n"                                                                                                 \
        "stateMachines:\n"                                                                                            \
        "  - name: M\n"                                                                                               \
        "    semantics: scxml\n"                                                                                      \
        "    initialState: " initial "\n"                                                                             \
        "    states:\n"
#define OUTCOMES                                                                                                      \
        "      - {name: pass, type: final}\n"                                                                         \
        "      - {name: fail, type: final}\n"
#define RAISE(ev) "{send: {to: self, event: " ev "}}"
#define INCR(var) "{assign: {" var ": '" var " + 1'}}"

/* 144: raised events are queued in order */
static void test_irp_144(void **state) {
        run_irp(HEAD("s0")
                "      - {name: s0, onEntry: [" RAISE("FOO") ", " RAISE("BAR") "]}\n"
                "      - {name: s1}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: s1, event: FOO}\n"
                "      - {from: s0, to: fail, event: BAR}\n"
                "      - {from: s1, to: pass, event: BAR}\n"
                "      - {from: s1, to: fail, event: FOO}\n",
                "pass");
}

/* 355: without an initial, a compound state enters its first child in document order */
static void test_irp_355(void **state) {
        run_irp(HEAD("top")
                "      - name: top\n"
                "        states: [{name: s0}, {name: s1}]\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: pass}\n"
                "      - {from: s1, to: fail}\n",
                "pass");
}

/* 372: a final child's entry actions run before done.state.<parent> is handled */
static void test_irp_372(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        initial: s0final\n"
                "        states:\n"
                "          - name: s0final\n"
                "            type: final\n"
                "            onEntry: [{assign: {Var1: '2'}}]\n"
                "            onExit: [{assign: {Var1: '3'}}]\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: pass, event: done.state.s0, guard: 'Var1 == 2'}\n"
                "      - {from: s0, to: fail, event: done.state.s0}\n",
                "pass");
}

/* 375: entry actions in document order */
static void test_irp_375(void **state) {
        run_irp(HEAD("s0")
                "      - {name: s0, onEntry: [" RAISE("EVENT1") ", " RAISE("EVENT2") "]}\n"
                "      - {name: s1}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: s1, event: EVENT1}\n"
                "      - {from: s0, to: fail, event: EVENT2}\n"
                "      - {from: s1, to: pass, event: EVENT2}\n"
                "      - {from: s1, to: fail, event: EVENT1}\n",
                "pass");
}

/* 377: exit actions in document order */
static void test_irp_377(void **state) {
        run_irp(HEAD("s0")
                "      - {name: s0, onExit: [" RAISE("EVENT1") ", " RAISE("EVENT2") "]}\n"
                "      - {name: s1}\n"
                "      - {name: s2}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: s1}\n"
                "      - {from: s1, to: s2, event: EVENT1}\n"
                "      - {from: s1, to: fail, event: EVENT2}\n"
                "      - {from: s2, to: pass, event: EVENT2}\n"
                "      - {from: s2, to: fail, event: EVENT1}\n",
                "pass");
}

/* 403a: the first enabled transition in document order, in the state
 * itself before its ancestors; a guard that fails passes on to the ancestor */
static void test_irp_403a(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        initial: s01\n"
                "        onEntry: [{send: {to: self, event: TIMEOUT, delayMs: 1000}}]\n"
                "        states:\n"
                "          - {name: s01, onEntry: [" RAISE("EVENT1") "]}\n"
                "          - {name: s02, onEntry: [" RAISE("EVENT2") "]}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: fail, event: TIMEOUT}\n"
                "      - {from: s0, to: fail, event: EVENT1}\n"
                "      - {from: s0, to: pass, event: EVENT2}\n"
                "      - {from: s01, to: s02, event: EVENT1}\n"
                "      - {from: s01, to: fail, event: EVENT2}\n"
                "      - {from: s01, to: fail, event: TIMEOUT}\n"
                "      - {from: s02, to: fail, event: EVENT1}\n"
                "      - {from: s02, to: fail, event: EVENT2, guard: 'false'}\n",
                "pass");
}

/* 403b: a transition of the nearest ancestor is taken once for the regions
 * that select it, and preempts the farther ancestor's */
static void test_irp_403b(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        states:\n"
                "          - name: p0\n"
                "            type: parallel\n"
                "            onEntry: [" RAISE("EVENT1") ", " RAISE("EVENT2") "]\n"
                "            states: [{name: p0s1}, {name: p0s2}]\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, event: EVENT1, actions: [" INCR("Var1") "]}\n"
                "      - {from: p0, event: EVENT1, actions: [" INCR("Var1") "]}\n"
                "      - {from: p0s1, to: pass, event: EVENT2, guard: 'Var1 == 1'}\n"
                "      - {from: p0s1, to: fail, event: EVENT2}\n",
                "pass");
}

/* 403c: the optimal enabled set: a conflicting transition of a later region
 * is preempted, targetless ones of the others are taken with it */
static void test_irp_403c(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        onEntry: [" RAISE("EVENT1") ", {send: {to: self, event: TIMEOUT, delayMs: 1000}}]\n"
                "        states:\n"
                "          - name: p0\n"
                "            type: parallel\n"
                "            states: [{name: p0s1}, {name: p0s2}, {name: p0s3}, {name: p0s4}]\n"
                "      - {name: s1}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: fail, event: EVENT2}\n"
                "      - {from: s0, to: fail, event: TIMEOUT}\n"
                "      - {from: p0s1, event: EVENT1}\n"
                "      - {from: p0s1, event: EVENT2}\n"
                "      - {from: p0s2, to: p0s1, event: EVENT1, actions: [" RAISE("EVENT2") "]}\n"
                "      - {from: p0s3, to: fail, event: EVENT1}\n"
                "      - {from: p0s3, to: s1, event: EVENT2}\n"
                "      - {from: p0s4, event: EVENT1, actions: [" INCR("Var1") "]}\n"
                "      - {from: p0s4, event: EVENT2, actions: [" INCR("Var1") "]}\n"
                "      - {from: s1, to: pass, guard: 'Var1 == 2'}\n"
                "      - {from: s1, to: fail}\n",
                "pass");
}

/* the IRP's event="*" of 404-406: every event the test raises */
#define ANY_BUT(from, e1, e2, e3)                                                                                     \
        "      - {from: " from ", to: fail, event: " e1 "}\n"                                                         \
        "      - {from: " from ", to: fail, event: " e2 "}\n"                                                         \
        "      - {from: " from ", to: fail, event: " e3 "}\n"

/* 404: states are exited in exit order (children before parents, reverse document order) */
static void test_irp_404(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        initial: s01p\n"
                "        states:\n"
                "          - name: s01p\n"
                "            type: parallel\n"
                "            onExit: [" RAISE("EVENT3") "]\n"
                "            states:\n"
                "              - {name: s01p1, onExit: [" RAISE("EVENT2") "]}\n"
                "              - {name: s01p2, onExit: [" RAISE("EVENT1") "]}\n"
                "          - {name: s02}\n"
                "          - {name: s03}\n"
                "          - {name: s04}\n"
                "          - {name: s05}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s01p, to: s02, actions: [" RAISE("EVENT4") "]}\n"
                "      - {from: s02, to: s03, event: EVENT1}\n" ANY_BUT("s02", "EVENT2", "EVENT3", "EVENT4")
                "      - {from: s03, to: s04, event: EVENT2}\n" ANY_BUT("s03", "EVENT1", "EVENT3", "EVENT4")
                "      - {from: s04, to: s05, event: EVENT3}\n" ANY_BUT("s04", "EVENT1", "EVENT2", "EVENT4")
                "      - {from: s05, to: pass, event: EVENT4}\n" ANY_BUT("s05", "EVENT1", "EVENT2", "EVENT3"),
                "pass");
}

/* 405: the transitions' content runs after every exit, in document order */
static void test_irp_405(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        initial: s01p\n"
                "        onEntry: [{send: {to: self, event: TIMEOUT, delayMs: 1000}}]\n"
                "        states:\n"
                "          - name: s01p\n"
                "            type: parallel\n"
                "            states:\n"
                "              - name: s01p1\n"
                "                states:\n"
                "                  - {name: s01p11, onExit: [" RAISE("EVENT2") "]}\n"
                "                  - {name: s01p12}\n"
                "              - name: s01p2\n"
                "                states:\n"
                "                  - {name: s01p21, onExit: [" RAISE("EVENT1") "]}\n"
                "                  - {name: s01p22}\n"
                "          - {name: s02}\n"
                "          - {name: s03}\n"
                "          - {name: s04}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: fail, event: TIMEOUT}\n"
                "      - {from: s01p, to: s02, event: EVENT1}\n"
                "      - {from: s01p11, to: s01p12, actions: [" RAISE("EVENT3") "]}\n"
                "      - {from: s01p21, to: s01p22, actions: [" RAISE("EVENT4") "]}\n"
                "      - {from: s02, to: s03, event: EVENT2}\n" ANY_BUT("s02", "EVENT1", "EVENT3", "EVENT4")
                "      - {from: s03, to: s04, event: EVENT3}\n" ANY_BUT("s03", "EVENT1", "EVENT2", "EVENT4")
                "      - {from: s04, to: pass, event: EVENT4}\n" ANY_BUT("s04", "EVENT1", "EVENT2", "EVENT3"),
                "pass");
}

/* 406: states are entered after the transitions' content, in entry order */
static void test_irp_406(void **state) {
        run_irp(HEAD("s0")
                "      - name: s0\n"
                "        initial: s01\n"
                "        onEntry: [{send: {to: self, event: TIMEOUT, delayMs: 1000}}]\n"
                "        states:\n"
                "          - {name: s01}\n"
                "          - name: s0p2\n"
                "            type: parallel\n"
                "            onEntry: [" RAISE("EVENT2") "]\n"
                "            states:\n"
                "              - {name: s01p21, onEntry: [" RAISE("EVENT3") "]}\n"
                "              - {name: s01p22, onEntry: [" RAISE("EVENT4") "]}\n"
                "          - {name: s03}\n"
                "          - {name: s04}\n"
                "          - {name: s05}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: fail, event: TIMEOUT}\n"
                "      - {from: s01, to: s0p2, actions: [" RAISE("EVENT1") "]}\n"
                "      - {from: s0p2, to: s03, event: EVENT1}\n"
                "      - {from: s03, to: s04, event: EVENT2}\n" ANY_BUT("s03", "EVENT1", "EVENT3", "EVENT4")
                "      - {from: s04, to: s05, event: EVENT3}\n" ANY_BUT("s04", "EVENT1", "EVENT2", "EVENT4")
                "      - {from: s05, to: pass, event: EVENT4}\n" ANY_BUT("s05", "EVENT1", "EVENT2", "EVENT3"),
                "pass");
}

/* 407: an exit action runs (once) */
static void test_irp_407(void **state) {
        run_irp(HEAD("s0")
                "      - {name: s0, onExit: [" INCR("Var1") "]}\n"
                "      - {name: s1}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s0, to: s1}\n"
                "      - {from: s1, to: pass, guard: 'Var1 == 1'}\n"
                "      - {from: s1, to: fail}\n",
                "pass");
}

/* 416: done.state.<id> when a compound state's final child is entered */
static void test_irp_416(void **state) {
        run_irp(HEAD("s1")
                "      - name: s1\n"
                "        onEntry: [{send: {to: self, event: TIMEOUT, delayMs: 1000}}]\n"
                "        states:\n"
                "          - name: s11\n"
                "            states:\n"
                "              - {name: s111}\n"
                "              - {name: s11final, type: final}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: fail, event: TIMEOUT}\n"
                "      - {from: s111, to: s11final}\n"
                "      - {from: s11, to: pass, event: done.state.s11}\n",
                "pass");
}

/* 417: done.state.<id> of a parallel state once every region is final */
static void test_irp_417(void **state) {
        run_irp(HEAD("s1")
                "      - name: s1\n"
                "        onEntry: [{send: {to: self, event: TIMEOUT, delayMs: 1000}}]\n"
                "        states:\n"
                "          - name: s1p1\n"
                "            type: parallel\n"
                "            states:\n"
                "              - name: s1p11\n"
                "                states: [{name: s1p111}, {name: s1p11final, type: final}]\n"
                "              - name: s1p12\n"
                "                states: [{name: s1p121}, {name: s1p12final, type: final}]\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: fail, event: TIMEOUT}\n"
                "      - {from: s1, to: pass, event: done.state.s1p1}\n"
                "      - {from: s1p111, to: s1p11final}\n"
                "      - {from: s1p121, to: s1p12final}\n",
                "pass");
}

/* 419: eventless transitions are taken before queued events */
static void test_irp_419(void **state) {
        run_irp(HEAD("s1")
                "      - {name: s1, onEntry: [" RAISE("INTERNAL_EVENT") ", " RAISE("EXTERNAL_EVENT") "]}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: fail, event: INTERNAL_EVENT}\n"
                "      - {from: s1, to: fail, event: EXTERNAL_EVENT}\n"
                "      - {from: s1, to: pass}\n",
                "pass");
}

/* 503: a targetless transition exits nothing */
static void test_irp_503(void **state) {
        run_irp(HEAD("s1")
                "      - {name: s1, onEntry: [" RAISE("FOO") ", " RAISE("BAR") "]}\n"
                "      - {name: s2, onExit: [" INCR("Var1") "]}\n"
                "      - {name: s3}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: s2}\n"
                "      - {from: s2, event: FOO, actions: [" INCR("Var2") "]}\n"
                "      - {from: s2, to: s3, event: BAR, guard: 'Var2 == 1'}\n"
                "      - {from: s2, to: fail, event: BAR}\n"
                "      - {from: s3, to: pass, guard: 'Var1 == 1'}\n"
                "      - {from: s3, to: fail}\n",
                "pass");
}

/* 504: an external transition exits every active state below the least
 * common compound ancestor of source and target */
static void test_irp_504(void **state) {
        run_irp(HEAD("s1")
                "      - {name: s1, onEntry: [" RAISE("FOO") ", " RAISE("BAR") "]}\n"
                "      - name: s2\n"
                "        onExit: [" INCR("Var5") "]\n"
                "        states:\n"
                "          - name: p\n"
                "            type: parallel\n"
                "            onExit: [" INCR("Var1") "]\n"
                "            states:\n"
                "              - {name: ps1, onExit: [" INCR("Var2") "]}\n"
                "              - {name: ps2, onExit: [" INCR("Var3") "]}\n"
                "      - {name: s3}\n"
                "      - {name: s4}\n"
                "      - {name: s5}\n"
                "      - {name: s6}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: p}\n"
                "      - {from: p, to: ps1, event: FOO, actions: [" INCR("Var4") "]}\n"
                "      - {from: p, to: s3, event: BAR, guard: 'Var4 == 1'}\n"
                "      - {from: p, to: fail, event: BAR}\n"
                "      - {from: s3, to: s4, guard: 'Var1 == 2'}\n"
                "      - {from: s3, to: fail}\n"
                "      - {from: s4, to: s5, guard: 'Var2 == 2'}\n"
                "      - {from: s4, to: fail}\n"
                "      - {from: s5, to: s6, guard: 'Var3 == 2'}\n"
                "      - {from: s5, to: fail}\n"
                "      - {from: s6, to: pass, guard: 'Var5 == 1'}\n"
                "      - {from: s6, to: fail}\n",
                "pass");
}

/* 505: an internal transition from a compound state to a descendant does not exit the source */
static void test_irp_505(void **state) {
        run_irp(HEAD("s1")
                "      - name: s1\n"
                "        onEntry: [" RAISE("FOO") ", " RAISE("BAR") "]\n"
                "        onExit: [" INCR("Var1") "]\n"
                "        states:\n"
                "          - {name: s11, onExit: [" INCR("Var2") "]}\n"
                "      - {name: s2}\n"
                "      - {name: s3}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: s11, event: FOO, type: internal, actions: [" INCR("Var3") "]}\n"
                "      - {from: s1, to: s2, event: BAR, guard: 'Var3 == 1'}\n"
                "      - {from: s1, to: fail, event: BAR}\n"
                "      - {from: s2, to: s3, guard: 'Var1 == 1'}\n"
                "      - {from: s2, to: fail}\n"
                "      - {from: s3, to: pass, guard: 'Var2 == 2'}\n"
                "      - {from: s3, to: fail}\n",
                "pass");
}

/* 506: an internal transition whose target is not a proper descendant of its source is external */
static void test_irp_506(void **state) {
        run_irp(HEAD("s1")
                "      - {name: s1, onEntry: [" RAISE("FOO") ", " RAISE("BAR") "]}\n"
                "      - name: s2\n"
                "        onExit: [" INCR("Var1") "]\n"
                "        states:\n"
                "          - {name: s21, onExit: [" INCR("Var2") "]}\n"
                "      - {name: s3}\n"
                "      - {name: s4}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: s2}\n"
                "      - {from: s2, to: s2, event: FOO, type: internal, actions: [" INCR("Var3") "]}\n"
                "      - {from: s2, to: s3, event: BAR, guard: 'Var3 == 1'}\n"
                "      - {from: s2, to: fail, event: BAR}\n"
                "      - {from: s3, to: s4, guard: 'Var1 == 2'}\n"
                "      - {from: s3, to: fail}\n"
                "      - {from: s4, to: pass, guard: 'Var2 == 2'}\n"
                "      - {from: s4, to: fail}\n",
                "pass");
}

/* 533: an internal transition whose source is not compound (a parallel state) is external */
static void test_irp_533(void **state) {
        run_irp(HEAD("s1")
                "      - {name: s1, onEntry: [" RAISE("FOO") ", " RAISE("BAR") "]}\n"
                "      - name: p\n"
                "        type: parallel\n"
                "        onExit: [" INCR("Var1") "]\n"
                "        states:\n"
                "          - {name: ps1, onExit: [" INCR("Var2") "]}\n"
                "          - {name: ps2, onExit: [" INCR("Var3") "]}\n"
                "      - {name: s2}\n"
                "      - {name: s3}\n"
                "      - {name: s4}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: s1, to: p}\n"
                "      - {from: p, to: ps1, event: FOO, type: internal, actions: [" INCR("Var4") "]}\n"
                "      - {from: p, to: s2, event: BAR, guard: 'Var4 == 1'}\n"
                "      - {from: p, to: fail, event: BAR}\n"
                "      - {from: s2, to: s3, guard: 'Var1 == 2'}\n"
                "      - {from: s2, to: fail}\n"
                "      - {from: s3, to: s4, guard: 'Var2 == 2'}\n"
                "      - {from: s3, to: fail}\n"
                "      - {from: s4, to: pass, guard: 'Var3 == 2'}\n"
                "      - {from: s4, to: fail}\n",
                "pass");
}

/* 570: done.state.<parallel> right after the last region's own done event */
static void test_irp_570(void **state) {
        run_irp(HEAD("p0")
                "      - name: p0\n"
                "        type: parallel\n"
                "        onEntry: [{send: {to: self, event: TIMEOUT, delayMs: 2000}}, " RAISE("E1") ", " RAISE("E2") "]\n"
                "        states:\n"
                "          - name: p0s1\n"
                "            states: [{name: p0s11}, {name: p0s1final, type: final}]\n"
                "          - name: p0s2\n"
                "            states: [{name: p0s21}, {name: p0s2final, type: final}]\n"
                "      - {name: s1}\n" OUTCOMES
                "    transitions:\n"
                "      - {from: p0, event: done.state.p0s1, actions: [{assign: {Var1: '1'}}]}\n"
                "      - {from: p0, to: s1, event: done.state.p0s2}\n"
                "      - {from: p0, to: fail, event: TIMEOUT}\n"
                "      - {from: p0s11, to: p0s1final, event: E1}\n"
                "      - {from: p0s21, to: p0s2final, event: E2}\n"
                "      - {from: s1, to: pass, event: done.state.p0, guard: 'Var1 == 1'}\n"
                "      - {from: s1, to: fail, event: done.state.p0}\n"
                "      - {from: s1, to: fail, event: TIMEOUT}\n",
                "pass");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_irp_144),  cmocka_unit_test(test_irp_355),  cmocka_unit_test(test_irp_372),
                cmocka_unit_test(test_irp_375),  cmocka_unit_test(test_irp_377),  cmocka_unit_test(test_irp_403a),
                cmocka_unit_test(test_irp_403b), cmocka_unit_test(test_irp_403c), cmocka_unit_test(test_irp_404),
                cmocka_unit_test(test_irp_405),  cmocka_unit_test(test_irp_406),  cmocka_unit_test(test_irp_407),
                cmocka_unit_test(test_irp_416),  cmocka_unit_test(test_irp_417),  cmocka_unit_test(test_irp_419),
                cmocka_unit_test(test_irp_503),  cmocka_unit_test(test_irp_504),  cmocka_unit_test(test_irp_505),
                cmocka_unit_test(test_irp_506),  cmocka_unit_test(test_irp_533),  cmocka_unit_test(test_irp_570),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
