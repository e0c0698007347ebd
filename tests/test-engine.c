/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The semantics of xfsm.component(5), one test per rule, through the public API. */

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "xfsm.h"

/* ---- helpers ---------------------------------------------------------- */

static void fail_on_error(void *userdata, int severity, const char *file, unsigned line, unsigned column,
                          const char *message) {
        (void) userdata;
        if (severity == XFSM_DIAG_ERROR)
                fail_msg("%s:%u:%u: %s", file, line, column, message);
}

static xfsm_engine *engine(const char *yaml, ...) {
        xfsm_engine *e = xfsm_engine_new();
        va_list ap;

        assert_non_null(e);
        xfsm_engine_use_virtual_clock(e, 1700000000000ULL);
        xfsm_engine_seed(e, 42);
        va_start(ap, yaml);
        for (const char *y = yaml; y; y = va_arg(ap, const char *))
                assert_int_equal(xfsm_engine_load_string(e, "test.yaml", y, strlen(y), fail_on_error, NULL), 0);
        va_end(ap);
        return e;
}

static xfsm_instance *create(xfsm_engine *e, const char *machine, const char *ctx) {
        xfsm_instance *i = NULL;
        int r = xfsm_engine_create(e, NULL, machine, ctx, &i);
        if (r < 0)
                fail_msg("create %s: %s", machine, xfsm_engine_last_error(e));
        assert_non_null(i);
        return i;
}

static char id_buf[8][64];
static unsigned id_next;

static const char *id_of(xfsm_instance *i) {
        char *b = id_buf[id_next++ % 8];
        snprintf(b, 64, "%s", xfsm_instance_id(i));
        return b;
}

static const char *state_of(xfsm_engine *e, const char *id) {
        xfsm_instance *i = xfsm_engine_find(e, id);
        return i ? xfsm_instance_state(i) : "(gone)";
}

static json_object *context_of(xfsm_engine *e, const char *id) {
        char *s = xfsm_instance_context_json(xfsm_engine_find(e, id));
        json_object *o = json_tokener_parse(s);
        free(s);
        return o;
}

static void assert_ctx_string(xfsm_engine *e, const char *id, const char *key, const char *want) {
        json_object *o = context_of(e, id), *v;
        assert_true(json_object_object_get_ex(o, key, &v));
        assert_string_equal(json_object_get_string(v), want);
        json_object_put(o);
}

static bool ctx_has(xfsm_engine *e, const char *id, const char *key) {
        json_object *o = context_of(e, id);
        bool r = json_object_object_get_ex(o, key, NULL);
        json_object_put(o);
        return r;
}

static int send(xfsm_engine *e, const char *id, const char *event, const char *payload) {
        return xfsm_engine_send(e, id, event, payload, NULL);
}

/* A record of every committed step's effects as text lines. */
typedef struct Log {
        char buf[16384];
        size_t len;
        unsigned steps;
} Log;

static void log_step(void *userdata, const xfsm_step *s) {
        Log *l = userdata;
        l->steps++;
        for (size_t k = 0; k < xfsm_step_n_effects(s); k++) {
                const xfsm_effect *f = xfsm_step_effect(s, k);
                const char *what = xfsm_effect_kind_to_string(xfsm_effect_get_kind(f));
                int n;
                switch (xfsm_effect_get_kind(f)) {
                case XFSM_EFFECT_TRANSITION:
                        n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s %s:%s->%s;", what,
                                     xfsm_effect_machine(f), xfsm_effect_from(f), xfsm_effect_to(f));
                        break;
                case XFSM_EFFECT_METHOD:
                        n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s %s;", what, xfsm_effect_method(f));
                        break;
                case XFSM_EFFECT_TIMER_ARMED:
                case XFSM_EFFECT_TIMER_CANCELLED:
                case XFSM_EFFECT_ROUTED:
                case XFSM_EFFECT_REFUSED:
                        n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s %s;", what,
                                     xfsm_effect_event(f) ?: "-");
                        break;
                default:
                        n = snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s;", what);
                }
                if (n > 0 && (size_t) n < sizeof l->buf - l->len)
                        l->len += (size_t) n;
        }
}

/* ---- run to completion ---------------------------------------------------- */

static const char parent_yaml[] =
        "name: P\n"
        "stateMachines:\n"
        "  - name: Parent\n"
        "    initialState: Idle\n"
        "    states: [{name: Idle}, {name: Waiting}, {name: ChildMoved}, {name: Done, type: final}]\n"
        "    transitions:\n"
        "      - {from: Idle, to: Waiting, event: START, type: inter_machine, targetMachine: Child,\n"
        "         contextMapping: {jobId: id, who: event.user}}\n"
        "      - {from: Waiting, to: ChildMoved, event: CHILD_CHANGED}\n"
        "      - {from: ChildMoved, to: Done, event: CHILD_DONE}\n"
        "  - name: Child\n"
        "    initialState: New\n"
        "    parentLink: {enabled: true, onStateChange: CHILD_CHANGED}\n"
        "    states: [{name: New}, {name: Working}, {name: Finished, type: final}]\n"
        "    transitions:\n"
        "      - {from: New, to: Working, event: WORK}\n"
        "      - {from: Working, to: Finished, event: FINISH,\n"
        "         notifyParent: {event: CHILD_DONE, includeContext: true}}\n";

static int take_id(void *userdata, xfsm_instance *i) {
        snprintf(userdata, 64, "%s", xfsm_instance_id(i));
        return 1;
}

static const char *find_child(xfsm_engine *e) {
        static char id[64];
        id[0] = 0;
        xfsm_engine_foreach(e, NULL, "Child", NULL, take_id, id); /* the only Child */
        return id;
}

static void test_inter_machine_child_parent_link_and_notify_parent(void **state) {
        (void) state;
        xfsm_engine *e = engine(parent_yaml, NULL);
        const char *p = id_of(create(e, "Parent", "{\"id\":\"J1\",\"secret\":1}"));
        const char *c;
        xfsm_instance *ci;

        assert_int_equal(send(e, p, "START", "{\"user\":\"ann\"}"), 0);
        c = find_child(e);
        assert_true(*c);
        ci = xfsm_engine_find(e, c);
        assert_string_equal(xfsm_instance_parent_id(ci), p);
        assert_string_equal(xfsm_instance_parent_machine(ci), "Parent");
        /* contextMapping: only the mapped keys, from context and from the event */
        assert_ctx_string(e, c, "jobId", "J1");
        assert_ctx_string(e, c, "who", "ann");
        assert_false(ctx_has(e, c, "secret"));

        /* parentLink: the child's state change reaches the parent */
        assert_int_equal(send(e, c, "WORK", NULL), 0);
        assert_string_equal(state_of(e, p), "ChildMoved");
        assert_ctx_string(e, p, "childInstanceId", c);
        assert_ctx_string(e, p, "newState", "Working");
        assert_ctx_string(e, p, "previousState", "New");

        /* notifyParent on the transition wins over parentLink */
        assert_int_equal(send(e, c, "FINISH", NULL), 0);
        assert_string_equal(state_of(e, p), "Done");
        assert_true(ctx_has(e, p, "childContext"));
        xfsm_engine_free(e);
}

static const char order_effects_yaml[] =
        "name: O\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states:\n"
        "      - {name: A, onExit: leaveA}\n"
        "      - name: B\n"
        "        onEntry: [enterB, enterB2]\n"
        "        cascadingRules: [{targetMachine: N, targetState: Idle, event: POKE}]\n"
        "      - {name: C, type: final}\n"
        "    transitions:\n"
        "      - {from: A, to: B, event: GO, triggeredMethod: onGo}\n"
        "      - {from: B, to: C, event: END}\n"
        "      - {from: B, to: A, event: BACK, type: timeout, timeoutMs: 100}\n"
        "  - name: N\n"
        "    initialState: Idle\n"
        "    states: [{name: Idle}, {name: Poked}]\n"
        "    transitions: [{from: Idle, to: Poked, event: POKE}]\n";

static void test_transition_order_of_effects(void **state) {
        (void) state;
        xfsm_engine *e = engine(order_effects_yaml, NULL);
        Log log = {};
        const char *m = id_of(create(e, "M", NULL));
        const char *n = id_of(create(e, "N", NULL));

        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(send(e, m, "GO", "{\"k\":1}"), 0);
        /* exit, method, payload merge, state, entry, cascade (queued, after), timers */
        assert_string_equal(log.buf, "method leaveA;method onGo;context;transition M:A->B;method enterB;method enterB2;"
                                     "timer-armed BACK;transition N:Idle->Poked;");
        assert_int_equal(log.steps, 1); /* one event, one step: the cascade inside the component included */
        assert_string_equal(state_of(e, n), "Poked");
        xfsm_engine_free(e);
}

static const char rtc_yaml[] =
        "name: R\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: S0\n"
        "    states: [{name: S0}, {name: S1}, {name: S2}, {name: S3}]\n"
        "    transitions:\n"
        "      - {from: S0, to: S1, event: GO}\n"
        "      - {from: S1, to: S2, event: NEXT, type: auto}\n"
        "      - {from: S2, to: S3, event: LAST, type: auto, timeoutMs: 0}\n";

static void test_run_to_completion_auto_chain_in_one_step(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        Log log = {};
        const char *m = id_of(create(e, "M", NULL));
        const char *st = NULL;

        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(xfsm_engine_send(e, m, "GO", NULL, &st), 0);
        assert_string_equal(st, "S3");
        assert_int_equal(log.steps, 1);
        assert_string_equal(log.buf, "transition M:S0->S1;transition M:S1->S2;transition M:S2->S3;");
        xfsm_engine_free(e);
}

/* A flat machine keeps the xcomponent order (xfsm.component(5)): an auto
 * transition is queued on entry behind the events the entry actions sent,
 * which are handled first, in the state entered; a statechart takes it
 * first, as an eventless transition (test-statechart). */
static void test_flat_auto_waits_behind_events_sent_on_entry(void **state) {
        static const char yaml[] = "name: FA\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: A\n"
                                   "    states:\n"
                                   "      - {name: A, onEntry: [{send: {to: self, event: PING}}]}\n"
                                   "      - {name: B}\n"
                                   "      - {name: C}\n"
                                   "      - {name: Early}\n"
                                   "    transitions:\n"
                                   "      - {from: A, to: Early, event: PING}\n"
                                   "      - {from: A, to: B, event: SKIP, type: auto}\n"
                                   "      - {from: B, to: C, event: PING}\n";
        (void) state;
        xfsm_engine *e = engine(yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));

        assert_string_equal(state_of(e, m), "Early");
        xfsm_engine_free(e);
}

/* ---- choosing a transition ------------------------------------------------- */

static const char choose_yaml[] =
        "name: C\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states: [{name: A}, {name: ToX}, {name: ToY}, {name: ToZ}]\n"
        "    transitions:\n"
        "      - {from: A, to: ToX, event: PICK, matchingRules: [{eventProperty: kind, instanceProperty: want}]}\n"
        "      - {from: A, to: ToY, event: PICK, matchingRules: [{eventProperty: level, instanceProperty: limit, operator: '>'}]}\n"
        "      - {from: A, to: ToZ, event: PICK}\n"
        "      - {from: A, to: ToX, event: ONE, matchingRules: [{eventProperty: kind, instanceProperty: want}]}\n";

static void test_choosing_first_candidate_whose_rules_hold(void **state) {
        (void) state;
        xfsm_engine *e = engine(choose_yaml, NULL);
        const char *a = id_of(create(e, "M", "{\"want\":\"x\",\"limit\":10}"));
        const char *b = id_of(create(e, "M", "{\"want\":\"x\",\"limit\":10}"));
        const char *c = id_of(create(e, "M", "{\"want\":\"x\",\"limit\":10}"));

        assert_int_equal(send(e, a, "PICK", "{\"kind\":\"x\"}"), 0);
        assert_string_equal(state_of(e, a), "ToX");
        /* instanceValue > eventValue: 10 > 5 */
        assert_int_equal(send(e, b, "PICK", "{\"kind\":\"q\",\"level\":5}"), 0);
        assert_string_equal(state_of(e, b), "ToY");
        /* none of the rules: the candidate without rules */
        assert_int_equal(send(e, c, "PICK", "{\"kind\":\"q\",\"level\":50}"), 0);
        assert_string_equal(state_of(e, c), "ToZ");
        xfsm_engine_free(e);
}

static void test_direct_send_single_candidate_ignores_matching_rules(void **state) {
        (void) state;
        xfsm_engine *e = engine(choose_yaml, NULL);
        const char *a = id_of(create(e, "M", "{\"want\":\"x\"}"));

        /* the rules do not hold, but on a direct send they only choose */
        assert_int_equal(send(e, a, "ONE", "{\"kind\":\"other\"}"), 0);
        assert_string_equal(state_of(e, a), "ToX");
        /* and a transition with matchingRules does not merge the payload */
        assert_false(ctx_has(e, a, "kind"));
        xfsm_engine_free(e);
}

static const char dup_yaml[] =
        "name: D\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states: [{name: A}, {name: First}, {name: Second}]\n"
        "    transitions:\n"
        "      - {from: A, to: First, event: GO, guard: 'context.x > 1'}\n"
        "      - {from: A, to: Second, event: GO}\n";

static void test_first_candidate_whose_guard_holds_is_taken(void **state) {
        (void) state;
        xfsm_engine *e = engine(dup_yaml, NULL);
        const char *a = id_of(create(e, "M", "{\"x\":0}"));
        const char *b = id_of(create(e, "M", "{\"x\":5}"));

        assert_int_equal(send(e, a, "GO", NULL), 0);
        assert_string_equal(state_of(e, a), "Second"); /* x > 1 does not hold */
        assert_int_equal(send(e, b, "GO", NULL), 0);
        assert_string_equal(state_of(e, b), "First");
        xfsm_engine_free(e);
}

static const char guarded_yaml[] =
        "name: G\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states: [{name: A}, {name: Big}, {name: Small}]\n"
        "    transitions:\n"
        "      - {from: A, to: Big, event: ROUTE, guard: {expression: 'context.amount > 5000'}}\n"
        "      - {from: A, to: Small, event: ROUTE, guard: 'amount <= 5000 && event.ok'}\n"
        "      - {from: A, to: Big, event: SPLIT, guard: 'amount / parts > 100'}\n";

static void test_guard_failed_is_an_error_and_changes_nothing(void **state) {
        (void) state;
        xfsm_engine *e = engine(guarded_yaml, NULL);
        const char *a = id_of(create(e, "M", "{\"amount\":100,\"parts\":0}"));
        const char *b = id_of(create(e, "M", "{\"amount\":100}"));
        int r;

        r = send(e, a, "ROUTE", "{\"ok\":false}");
        assert_int_equal(r, -XFSM_E_GUARD_FAILED);
        assert_string_equal(xfsm_error_name(r), "org.xfsm1.Error.GuardFailed");
        assert_string_equal(state_of(e, a), "A");
        assert_false(ctx_has(e, a, "ok")); /* the payload was not merged */
        /* the guard sees the event's payload before it is merged */
        assert_int_equal(send(e, b, "ROUTE", "{\"ok\":true}"), 0);
        assert_string_equal(state_of(e, b), "Small");
        /* a division by zero makes the guard false, and the error says why */
        r = send(e, a, "SPLIT", NULL);
        assert_int_equal(r, -XFSM_E_GUARD_FAILED);
        assert_non_null(strstr(xfsm_engine_last_error(e), "divided by zero"));
        xfsm_engine_free(e);
}

/* ---- refusals ------------------------------------------------------------- */

static void test_no_transition_is_an_error_and_changes_nothing(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        const char *m = id_of(create(e, "M", "{\"a\":1}"));
        uint64_t updated = xfsm_instance_updated_at(xfsm_engine_find(e, m));
        int r;

        r = send(e, m, "NOPE", "{\"a\":2}");
        assert_int_equal(r, -XFSM_E_NO_TRANSITION);
        assert_string_equal(xfsm_error_name(r), "org.xfsm1.Error.NoTransition");
        assert_non_null(strstr(xfsm_engine_last_error(e), "NOPE"));
        assert_string_equal(state_of(e, m), "S0");
        assert_int_equal(xfsm_instance_updated_at(xfsm_engine_find(e, m)), updated);
        json_object *o = context_of(e, m), *v;
        assert_true(json_object_object_get_ex(o, "a", &v));
        assert_int_equal(json_object_get_int(v), 1);
        json_object_put(o);
        xfsm_engine_free(e);
}

static void test_bad_input_is_refused_with_named_errors(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));
        char *big;

        assert_int_equal(send(e, m, "GO", "[1,2]"), -XFSM_E_INVALID_PAYLOAD);
        assert_int_equal(send(e, m, "GO", "{\"a\":"), -XFSM_E_INVALID_PAYLOAD);
        assert_int_equal(send(e, m, "GO", "{\"a\":\"\xff\xfe\"}"), -XFSM_E_INVALID_PAYLOAD);
        assert_int_equal(send(e, m, "GO", "{} trailing"), -XFSM_E_INVALID_PAYLOAD);
        big = malloc(XFSM_MAX_PAYLOAD + 16);
        memset(big, ' ', XFSM_MAX_PAYLOAD + 8);
        memcpy(big, "{\"a\":1}", 7);
        big[XFSM_MAX_PAYLOAD + 8] = 0;
        assert_int_equal(send(e, m, "GO", big), -XFSM_E_INVALID_PAYLOAD);
        free(big);
        assert_int_equal(send(e, m, "BAD EVENT", NULL), -XFSM_E_INVALID_ARGUMENT);
        assert_int_equal(send(e, m, "", NULL), -XFSM_E_INVALID_ARGUMENT);
        assert_int_equal(send(e, "00000000-0000-4000-8000-000000000000", "GO", NULL), -XFSM_E_NO_SUCH_INSTANCE);
        assert_int_equal(xfsm_engine_create(e, NULL, "Nope", NULL, NULL), -XFSM_E_NO_SUCH_MACHINE);
        assert_int_equal(xfsm_engine_create(e, "Nope", "M", NULL, NULL), -XFSM_E_NO_SUCH_COMPONENT);
        assert_int_equal(xfsm_engine_create(e, NULL, "M", "\"text\"", NULL), -XFSM_E_INVALID_PAYLOAD);
        assert_string_equal(state_of(e, m), "S0");
        assert_int_equal(xfsm_engine_n_instances(e), 1);
        xfsm_engine_free(e);
}

/* A restored image parses with the payloads' tokener: payloads stay strict after it. */
static void test_payloads_stay_strict_after_a_restore(void **state) {
        (void) state;
        xfsm_engine *a = engine(rtc_yaml, NULL), *b = engine(rtc_yaml, NULL);
        const char *m = id_of(create(a, "M", "{\"a\":1}"));
        char *image = xfsm_instance_to_json(xfsm_engine_find(a, m));

        assert_non_null(image);
        assert_int_equal(xfsm_engine_restore_json(b, image), 0);
        assert_int_equal(send(b, m, "GO", "{\"a\":2 /* a comment */}"), -XFSM_E_INVALID_PAYLOAD);
        assert_int_equal(send(b, m, "GO", "{\"a\":2}"), 0);
        free(image);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

/* Payloads must be UTF-8: a broken or cut sequence anywhere is refused, a
 * whole one taken (ASCII-only texts skip json-c's byte-by-byte check). */
static void test_payloads_must_be_utf8(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));
        json_object *o, *v;

        assert_int_equal(send(e, m, "GO", "{\"a\":\"0123456789abcdef\xc3\"}"), -XFSM_E_INVALID_PAYLOAD);
        assert_int_equal(send(e, m, "GO", "{\"a\":\"x\",\"b\":\"\xe2\x82\"}"), -XFSM_E_INVALID_PAYLOAD);
        assert_int_equal(send(e, m, "GO", "{\"a\":\"\x80\"}"), -XFSM_E_INVALID_PAYLOAD);
        assert_string_equal(state_of(e, m), "S0");
        assert_int_equal(send(e, m, "GO", "{\"a\":\"caf\xc3\xa9 \xe2\x82\xac\"}"), 0);
        o = context_of(e, m);
        assert_true(json_object_object_get_ex(o, "a", &v));
        assert_string_equal(json_object_get_string(v), "caf\xc3\xa9 \xe2\x82\xac");
        json_object_put(o);
        xfsm_engine_free(e);
}

/* Numbers read the same whatever the caller's locale, and the caller's locale
 * is the same after the call (the engine parses in the C locale object). */
static void test_payload_parse_keeps_the_callers_locale(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        const char *m = id_of(create(e, "M", "{\"a\":1}"));
        locale_t mine = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t) 0), before;
        json_object *o, *v;

        if (mine == (locale_t) 0)
                skip();
        before = uselocale(mine);
        assert_int_equal(send(e, m, "GO", "{\"x\":1.5,\"y\":-2.25e1}"), 0);
        assert_ptr_equal(uselocale((locale_t) 0), mine);
        uselocale(before);
        freelocale(mine);
        o = context_of(e, m);
        assert_true(json_object_object_get_ex(o, "x", &v));
        assert_true(json_object_get_double(v) == 1.5);
        assert_true(json_object_object_get_ex(o, "y", &v));
        assert_true(json_object_get_double(v) == -22.5);
        json_object_put(o);
        xfsm_engine_free(e);
}

/* ---- payloads and templates ------------------------------------------------------ */

static void test_payload_merge_is_shallow(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        const char *m = id_of(create(e, "M", "{\"keep\":1,\"nested\":{\"a\":1,\"b\":2}}"));
        json_object *o, *v, *w;

        assert_int_equal(send(e, m, "GO", "{\"nested\":{\"c\":3},\"new\":true}"), 0);
        o = context_of(e, m);
        assert_true(json_object_object_get_ex(o, "keep", NULL));
        assert_true(json_object_object_get_ex(o, "new", NULL));
        assert_true(json_object_object_get_ex(o, "nested", &v));
        /* replaced, not merged into */
        assert_false(json_object_object_get_ex(v, "a", NULL));
        assert_true(json_object_object_get_ex(v, "c", &w));
        json_object_put(o);
        xfsm_engine_free(e);
}

static const char tmpl_yaml[] =
        "name: T\n"
        "stateMachines:\n"
        "  - name: Src\n"
        "    initialState: A\n"
        "    states:\n"
        "      - {name: A}\n"
        "      - name: B\n"
        "        cascadingRules:\n"
        "          - targetMachine: Dst\n"
        "            targetState: Wait\n"
        "            event: GOT\n"
        "            matchingRules: [{eventProperty: ref, instanceProperty: ref}]\n"
        "            payload:\n"
        "              ref: '{{ref}}'\n"
        "              amount: '{{order.amount}}'\n"
        "              flag: '{{flag}}'\n"
        "              text: 'order {{ref}} of {{order.amount}} EUR'\n"
        "              missing: '{{nothing.here}}'\n"
        "              nested: {inner: '{{order.amount}}'}\n"
        "              spaced: '{{ ref }}'\n"
        "              literal: 'plain {text}'\n"
        "              count: 3\n"
        "              none: null\n"
        "    transitions: [{from: A, to: B, event: GO}]\n"
        "  - name: Dst\n"
        "    initialState: Wait\n"
        "    states: [{name: Wait}, {name: Got}]\n"
        "    transitions: [{from: Wait, to: Got, event: GOT}]\n";

static void test_template_exact_value_keeps_json_type(void **state) {
        (void) state;
        xfsm_engine *e = engine(tmpl_yaml, NULL);
        const char *s = id_of(create(e, "Src", "{\"ref\":7,\"order\":{\"amount\":12.5},\"flag\":true}"));
        const char *d = id_of(create(e, "Dst", "{\"ref\":7}"));
        const char *other = id_of(create(e, "Dst", "{\"ref\":8}"));
        json_object *o, *v;

        assert_int_equal(send(e, s, "GO", NULL), 0);
        assert_string_equal(state_of(e, d), "Got");
        assert_string_equal(state_of(e, other), "Wait"); /* matchingRules select */
        o = context_of(e, d);
        assert_true(json_object_object_get_ex(o, "amount", &v));
        assert_true(json_object_is_type(v, json_type_double));
        assert_true(json_object_object_get_ex(o, "flag", &v));
        assert_true(json_object_is_type(v, json_type_boolean));
        assert_true(json_object_object_get_ex(o, "ref", &v));
        assert_true(json_object_is_type(v, json_type_int));
        assert_true(json_object_object_get_ex(o, "missing", &v));
        assert_null(v); /* a missing path is null */
        assert_true(json_object_object_get_ex(o, "text", &v));
        assert_string_equal(json_object_get_string(v), "order 7 of 12.5 EUR");
        assert_true(json_object_object_get_ex(o, "nested", &v));
        assert_true(json_object_object_get_ex(v, "inner", &v));
        assert_true(json_object_is_type(v, json_type_double));
        assert_true(json_object_object_get_ex(o, "spaced", &v));
        assert_int_equal(json_object_get_int(v), 7);
        assert_true(json_object_object_get_ex(o, "literal", &v));
        assert_string_equal(json_object_get_string(v), "plain {text}");
        assert_true(json_object_object_get_ex(o, "count", &v));
        assert_int_equal(json_object_get_int(v), 3);
        assert_true(json_object_object_get_ex(o, "none", &v));
        assert_null(v);
        json_object_put(o);
        /* the same template again, for another instance: nothing of the first kept */
        s = id_of(create(e, "Src", "{\"ref\":8,\"order\":{\"amount\":1},\"flag\":false}"));
        assert_int_equal(send(e, s, "GO", NULL), 0);
        assert_string_equal(state_of(e, other), "Got");
        o = context_of(e, other);
        assert_true(json_object_object_get_ex(o, "text", &v));
        assert_string_equal(json_object_get_string(v), "order 8 of 1 EUR");
        json_object_put(o);
        xfsm_engine_free(e);
}

/* ---- routed events between components ---------------------------------------- */

static const char demo_order[] =
        "name: OrderComponent\n"
        "stateMachines:\n"
        "  - name: Order\n"
        "    initialState: Created\n"
        "    states:\n"
        "      - {name: Created, type: entry}\n"
        "      - name: Validated\n"
        "        cascadingRules:\n"
        "          - targetComponent: PaymentComponent\n"
        "            targetMachine: Payment\n"
        "            targetState: Pending\n"
        "            event: PROCESS\n"
        "            payload: {orderId: '{{orderId}}', amount: '{{amount}}'}\n"
        "      - {name: Completed, type: final}\n"
        "    transitions:\n"
        "      - {from: Created, to: Validated, event: VALIDATE}\n"
        "      - {from: Validated, to: Completed, event: COMPLETE}\n";

static const char demo_payment[] =
        "name: PaymentComponent\n"
        "stateMachines:\n"
        "  - name: Payment\n"
        "    initialState: Pending\n"
        "    states: [{name: Pending, type: entry}, {name: Processing}]\n"
        "    transitions: [{from: Pending, to: Processing, event: PROCESS}]\n";

static void test_cascade_without_rules_reaches_every_instance_in_state(void **state) {
        (void) state;
        xfsm_engine *e = engine(demo_order, demo_payment, NULL);
        Log log = {};
        const char *o = id_of(create(e, "Order", "{\"orderId\":\"O1\",\"amount\":10}"));
        const char *p1 = id_of(create(e, "Payment", "{\"orderId\":\"O1\"}"));
        const char *p2 = id_of(create(e, "Payment", "{\"orderId\":\"O2\"}"));

        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(send(e, o, "VALIDATE", NULL), 0);
        assert_string_equal(state_of(e, p1), "Processing");
        assert_string_equal(state_of(e, p2), "Processing");
        /* the source's step, then the receiver's: one unit each */
        assert_int_equal(log.steps, 2);
        assert_string_equal(log.buf, "transition Order:Created->Validated;routed PROCESS;"
                                     "context;transition Payment:Pending->Processing;"
                                     "context;transition Payment:Pending->Processing;");
        /* the routed event's wire form carries its id */
        const xfsm_step *st = xfsm_engine_last_step(e);
        const xfsm_routed *r = NULL;
        for (size_t k = 0; k < xfsm_step_n_effects(st); k++)
                if (xfsm_effect_get_kind(xfsm_step_effect(st, k)) == XFSM_EFFECT_ROUTED)
                        r = xfsm_effect_routed(xfsm_step_effect(st, k));
        assert_non_null(r);
        assert_string_equal(xfsm_routed_source_component(r), "OrderComponent");
        assert_int_equal(xfsm_routed_hops(r), 1);
        xfsm_engine_free(e);
}

static const char payment_matching[] =
        "name: PaymentComponent\n"
        "stateMachines:\n"
        "  - name: Payment\n"
        "    initialState: Pending\n"
        "    states: [{name: Pending, type: entry}, {name: Processing}]\n"
        "    transitions:\n"
        "      - {from: Pending, to: Processing, event: PROCESS,\n"
        "         matchingRules: [{eventProperty: orderId, instanceProperty: orderId}]}\n";

static void test_cascade_matching_rules_select_receivers(void **state) {
        (void) state;
        xfsm_engine *e = engine(demo_order, payment_matching, NULL);
        const char *o = id_of(create(e, "Order", "{\"orderId\":\"O1\",\"amount\":10}"));
        const char *p1 = id_of(create(e, "Payment", "{\"orderId\":\"O1\"}"));
        const char *p2 = id_of(create(e, "Payment", "{\"orderId\":\"O2\"}"));

        assert_int_equal(send(e, o, "VALIDATE", NULL), 0);
        assert_string_equal(state_of(e, p1), "Processing");
        assert_string_equal(state_of(e, p2), "Pending");
        xfsm_engine_free(e);
}

static int count_routed(void *userdata, xfsm_engine *e, const xfsm_routed *r) {
        (void) e;
        char *json = xfsm_routed_to_json(r);
        assert_non_null(json);
        *(char **) userdata = json;
        return 0;
}

static void test_routed_event_wire_form_round_trip(void **state) {
        (void) state;
        xfsm_engine *src = engine(demo_order, NULL), *dst = engine(payment_matching, NULL);
        char *wire = NULL;
        unsigned delivered = 0;
        const char *o = id_of(create(src, "Order", "{\"orderId\":\"O9\",\"amount\":3}"));
        const char *p = id_of(create(dst, "Payment", "{\"orderId\":\"O9\"}"));

        /* another process: the router hands the event over as JSON */
        xfsm_engine_set_router(src, count_routed, &wire);
        assert_int_equal(send(src, o, "VALIDATE", NULL), 0);
        assert_non_null(wire);
        assert_int_equal(xfsm_engine_deliver_json(dst, wire, &delivered), 0);
        assert_int_equal(delivered, 1);
        assert_string_equal(state_of(dst, p), "Processing");
        assert_ctx_string(dst, p, "orderId", "O9");
        assert_int_equal(xfsm_engine_deliver_json(dst, "{\"targetComponent\":\"Nope\",\"targetMachine\":\"X\","
                                                       "\"event\":\"E\"}",
                                                  NULL),
                         -XFSM_E_NO_SUCH_COMPONENT);
        assert_int_equal(xfsm_engine_deliver_json(dst, "not json", NULL), -XFSM_E_INVALID_PAYLOAD);
        free(wire);
        xfsm_engine_free(src);
        xfsm_engine_free(dst);
}

/* The routed form carries, per matchingRule, the value the sender resolved:
 * from the payload, else (absent or null there) from the source instance's
 * context; absent when neither has it. */
static const char resolving_order[] =
        "name: Shop\n"
        "stateMachines:\n"
        "  - name: Order\n"
        "    initialState: Created\n"
        "    states:\n"
        "      - {name: Created}\n"
        "      - name: Validated\n"
        "        cascadingRules:\n"
        "          - targetComponent: Bank\n"
        "            targetMachine: Payment\n"
        "            targetState: Pending\n"
        "            event: PROCESS\n"
        "            payload: {orderId: \"{{orderId}}\", tier: null}\n"
        "            matchingRules:\n"
        "              - {eventProperty: orderId, instanceProperty: orderId}\n"
        "              - {eventProperty: customerId, instanceProperty: customer.id, operator: \"!==\"}\n"
        "              - {eventProperty: tier, instanceProperty: tier, operator: \">=\"}\n"
        "              - {eventProperty: nowhere, instanceProperty: region}\n"
        "    transitions: [{from: Created, to: Validated, event: VALIDATE}]\n";

static void test_routed_form_carries_each_rule_resolved_value(void **state) {
        (void) state;
        xfsm_engine *e = engine(resolving_order, NULL);
        char *wire = NULL;
        json_object *o, *rules, *r;
        const char *id = id_of(create(e, "Order", "{\"orderId\":\"O1\",\"customerId\":\"C7\",\"tier\":3}"));

        xfsm_engine_set_router(e, count_routed, &wire);
        assert_int_equal(send(e, id, "VALIDATE", NULL), 0);
        assert_non_null(wire);
        o = json_tokener_parse(wire);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "matchingRules", &rules));
        assert_int_equal(json_object_array_length(rules), 4);
        /* from the payload */
        r = json_object_array_get_idx(rules, 0);
        assert_true(json_object_object_get_ex(r, "value", &r));
        assert_string_equal(json_object_get_string(r), "O1");
        /* not in the payload: from the source's context */
        r = json_object_array_get_idx(rules, 1);
        assert_true(json_object_object_get_ex(r, "value", &r));
        assert_string_equal(json_object_get_string(r), "C7");
        /* null in the payload: the context's, with its JSON type */
        r = json_object_array_get_idx(rules, 2);
        assert_true(json_object_object_get_ex(r, "value", &r));
        assert_true(json_object_is_type(r, json_type_int));
        assert_int_equal(json_object_get_int(r), 3);
        /* in neither: no value at all (not null) */
        assert_false(json_object_object_get_ex(json_object_array_get_idx(rules, 3), "value", NULL));
        /* older fields unchanged: a reader that ignores "value" reads the same event */
        r = json_object_array_get_idx(rules, 1);
        assert_true(json_object_object_get_ex(r, "operator", &r));
        assert_string_equal(json_object_get_string(r), "!==");
        json_object_put(o);
        free(wire);
        xfsm_engine_free(e);
}

/* Routed events from xcomponent-ai (the bridge writes "filters"): filters
 * select with JavaScript's comparison rules; each selected instance takes the
 * event as a direct send. */
static const char xc_payment[] =
        "name: PaymentComponent\n"
        "stateMachines:\n"
        "  - name: Payment\n"
        "    initialState: Pending\n"
        "    states: [{name: Pending, type: entry}, {name: Processing}, {name: Held}]\n"
        "    transitions:\n"
        "      - {from: Pending, to: Processing, event: PROCESS}\n"
        "      - {from: Pending, to: Held, event: HOLD}\n"
        "      - {from: Held, to: Processing, event: PROCESS,\n"
        "         matchingRules: [{eventProperty: orderId, instanceProperty: orderId}]}\n";

static unsigned xc_deliver(xfsm_engine *e, const char *state, const char *filters, const char *payload) {
        char json[2048];
        unsigned delivered = 0;
        int r;

        snprintf(json, sizeof json,
                 "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"xcomponent:OrderComponent\","
                 "\"sourceIncarnation\":\"00112233445566778899aabbccddeeff\",\"sourceSeq\":1,\"ruleIndex\":0,"
                 "\"targetComponent\":\"PaymentComponent\",\"targetMachine\":\"Payment\"%s%s%s,"
                 "\"event\":\"PROCESS\",\"payload\":%s,\"matchingRules\":[],\"filters\":%s,\"hops\":1}",
                 state ? ",\"targetState\":\"" : "", state ?: "", state ? "\"" : "", payload ?: "{}",
                 filters ?: "[]");
        r = xfsm_engine_deliver_json(e, json, &delivered);
        if (r < 0)
                fail_msg("deliver %s: %s", json, xfsm_engine_last_error(e));
        return delivered;
}

/* A fresh Payment per try: how many of those with these contexts a filter takes. */
static unsigned xc_taken(const char *filters, const char *const *contexts) {
        xfsm_engine *e = engine(xc_payment, NULL);
        unsigned n;

        for (size_t k = 0; contexts[k]; k++)
                create(e, "Payment", contexts[k]);
        n = xc_deliver(e, "Pending", filters, NULL);
        xfsm_engine_free(e);
        return n;
}

static void test_xcomponent_filters_select_with_javascript_rules(void **state) {
        (void) state;
        const char *const nums[] = { "{\"amount\":5}", "{\"amount\":\"5\"}", "{\"amount\":10}", "{}", NULL };

        /* each operator, "instance value OP value" */
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\"===\",\"value\":5}]", nums), 1);
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\"!==\",\"value\":5}]", nums), 3);
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\">\",\"value\":4}]", nums), 3);
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\"<\",\"value\":10}]", nums), 2);
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\">=\",\"value\":10}]", nums), 1);
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\"<=\",\"value\":5}]", nums), 2);
        /* no operator: === ("5" === 5 is false) */
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"value\":\"5\"}]", nums), 1);
        /* no value: the instances that lack the property */
        assert_int_equal(xc_taken("[{\"property\":\"amount\"}]", nums), 1);
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\"!==\"}]", nums), 3);
        /* an unknown operator matches nothing */
        assert_int_equal(xc_taken("[{\"property\":\"amount\",\"operator\":\"==\",\"value\":5}]", nums), 0);
        /* string against string: UTF-16 order; string against number: as numbers */
        const char *const strs[] = { "{\"code\":\"b\"}", "{\"code\":\"B\"}", "{\"code\":\"10\"}", NULL };
        assert_int_equal(xc_taken("[{\"property\":\"code\",\"operator\":\">\",\"value\":\"a\"}]", strs), 1);
        assert_int_equal(xc_taken("[{\"property\":\"code\",\"operator\":\">\",\"value\":9}]", strs), 1);
        assert_int_equal(xc_taken("[{\"property\":\"code\",\"operator\":\"<\",\"value\":\"9\"}]", strs), 1);
        /* dotted paths, every filter must hold */
        const char *const nested[] = { "{\"c\":{\"id\":1,\"vip\":true}}", "{\"c\":{\"id\":1,\"vip\":false}}",
                                       "{\"c\":{\"id\":2,\"vip\":true}}", NULL };
        assert_int_equal(xc_taken("[{\"property\":\"c.id\",\"value\":1},{\"property\":\"c.vip\",\"value\":true}]",
                                  nested),
                         1);
}

static void test_xcomponent_event_any_state_direct_send_and_payload_merge(void **state) {
        (void) state;
        xfsm_engine *e = engine(xc_payment, NULL);
        const char *p1 = id_of(create(e, "Payment", "{\"orderId\":\"O1\"}"));
        const char *p2 = id_of(create(e, "Payment", "{\"orderId\":\"O2\"}"));
        const char *h = id_of(create(e, "Payment", "{\"orderId\":\"O3\"}"));

        /* Held has one PROCESS transition, with matchingRules: as a direct send it is
         * taken whatever the payload says (xcomponent-ai's sendEvent), and with
         * matchingRules the payload is not merged */
        assert_int_equal(send(e, h, "HOLD", NULL), 0);
        assert_int_equal(xc_deliver(e, "Held", NULL, "{\"orderId\":\"nope\",\"amount\":1}"), 1);
        assert_string_equal(state_of(e, h), "Processing");
        assert_ctx_string(e, h, "orderId", "O3");
        assert_false(ctx_has(e, h, "amount"));
        assert_string_equal(state_of(e, p1), "Pending");
        assert_string_equal(state_of(e, p2), "Pending");
        xfsm_engine_free(e);

        /* two Payments in Pending, a message without filters: both move, the payload merged */
        e = engine(xc_payment, NULL);
        p1 = id_of(create(e, "Payment", "{\"orderId\":\"O1\"}"));
        p2 = id_of(create(e, "Payment", "{\"orderId\":\"O2\"}"));
        assert_int_equal(xc_deliver(e, "Pending", NULL, "{\"amount\":10,\"orderId\":\"X\"}"), 2);
        assert_string_equal(state_of(e, p1), "Processing");
        assert_string_equal(state_of(e, p2), "Processing");
        assert_ctx_string(e, p1, "orderId", "X");
        assert_ctx_string(e, p2, "orderId", "X");
        /* no transition from Processing: ignored, nothing changes */
        assert_int_equal(xc_deliver(e, "Processing", NULL, "{\"z\":1}"), 0);
        assert_false(ctx_has(e, p1, "z"));
        xfsm_engine_free(e);

        /* targetState absent or "*": every state that has a transition on the event */
        e = engine(xc_payment, NULL);
        p1 = id_of(create(e, "Payment", "{\"orderId\":\"O1\"}"));
        assert_int_equal(xc_deliver(e, NULL, NULL, NULL), 1);
        assert_string_equal(state_of(e, p1), "Processing");
        p2 = id_of(create(e, "Payment", "{\"orderId\":\"O2\"}"));
        assert_int_equal(xc_deliver(e, "*", NULL, NULL), 1);
        assert_string_equal(state_of(e, p2), "Processing");
        xfsm_engine_free(e);
}

/* The wire form: its members in the order readers have always seen, strings
 * escaped as JSON asks ('"', '\\' and control characters), the payload as
 * json-c prints it; what is written reads back to the same event. */
static void test_routed_wire_form_is_stable_and_reads_back(void **state) {
        xfsm_routed *r = NULL, *again = NULL;
        char *w, *w2;
        (void) state;

        assert_int_equal(xfsm_routed_parse("{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"Or/der\",\"sourceSeq\":3,\"ruleIndex\":2,\"targetComponent\":\"Pay\\\"ment\",\"targetMachine\":\"P\\\\m\",\"targetState\":\"S\\t1\",\"event\":\"E\\u0001\\n\\u00e9\",\"payload\":{\"a\":\"x/y\",\"n\":1.5,\"l\":[1,{\"b\":null}]},\"matchingRules\":[{\"eventProperty\":\"k\",\"instanceProperty\":\"i\\\"d\",\"operator\":\">=\"}],\"hops\":4}", &r), 0);
        w = xfsm_routed_to_wire(r, "inc-\"1", UINT64_MAX);
        assert_string_equal(w, "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"Or/der\",\"sourceIncarnation\":\"inc-\\\"1\",\"sourceSeq\":18446744073709551615,\"ruleIndex\":2,\"targetComponent\":\"Pay\\\"ment\",\"targetMachine\":\"P\\\\m\",\"targetState\":\"S\\u00091\",\"event\":\"E\\u0001\\u000aé\",\"payload\":{\"a\":\"x\\/y\",\"n\":1.5,\"l\":[1,{\"b\":null}]},\"matchingRules\":[{\"eventProperty\":\"k\",\"instanceProperty\":\"i\\\"d\",\"operator\":\">=\"}],\"hops\":4}");
        assert_int_equal(xfsm_routed_parse(w, &again), 0);
        w2 = xfsm_routed_to_wire(again, "inc-\"1", UINT64_MAX);
        assert_string_equal(w2, w);
        assert_string_equal(xfsm_routed_event(again), "E\001\n\303\251");
        assert_string_equal(xfsm_routed_source_incarnation(again), "inc-\"1");
        assert_true(xfsm_routed_source_seq(again) == UINT64_MAX);
        free(w);
        free(w2);
        xfsm_routed_free(again);
        w = xfsm_routed_to_wire(r, "", 0);
        assert_string_equal(w, "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"Or/der\",\"sourceSeq\":0,\"ruleIndex\":2,\"targetComponent\":\"Pay\\\"ment\",\"targetMachine\":\"P\\\\m\",\"targetState\":\"S\\u00091\",\"event\":\"E\\u0001\\u000aé\",\"payload\":{\"a\":\"x\\/y\",\"n\":1.5,\"l\":[1,{\"b\":null}]},\"matchingRules\":[{\"eventProperty\":\"k\",\"instanceProperty\":\"i\\\"d\",\"operator\":\">=\"}],\"hops\":4}");
        free(w);
        xfsm_routed_free(r);
        assert_int_equal(xfsm_routed_parse("{\"kind\":\"create\",\"targetComponent\":\"B\",\"targetMachine\":\"M\"}", &r), 0);
        w = xfsm_routed_to_wire(r, NULL, 1);
        assert_string_equal(w, "{\"v\":1,\"kind\":\"create\",\"sourceComponent\":\"\",\"sourceSeq\":1,\"ruleIndex\":0,\"targetComponent\":\"B\",\"targetMachine\":\"M\",\"payload\":{},\"matchingRules\":[],\"hops\":0}");
        free(w);
        xfsm_routed_free(r);
}

static const char cross_order[] =
        "name: Shop\n"
        "stateMachines:\n"
        "  - name: Order\n"
        "    initialState: Created\n"
        "    states: [{name: Created}, {name: Pending}, {name: Paid}]\n"
        "    transitions:\n"
        "      - {from: Created, to: Pending, event: SUBMIT, type: cross_component, targetComponent: Bank,\n"
        "         targetMachine: Payment, contextMapping: {orderId: orderId, amount: amount}}\n"
        "      - {from: Pending, to: Paid, event: PAID,\n"
        "         matchingRules: [{eventProperty: orderId, instanceProperty: orderId}]}\n";

static const char cross_bank[] =
        "name: Bank\n"
        "stateMachines:\n"
        "  - name: Payment\n"
        "    initialState: New\n"
        "    states: [{name: New}, {name: Done}]\n"
        "    transitions:\n"
        "      - {from: New, to: Done, event: CONFIRM, type: cross_component, targetComponent: Shop,\n"
        "         targetMachine: Order, targetEvent: PAID,\n"
        "         matchingRules: [{eventProperty: orderId, instanceProperty: orderId}]}\n";

static int take_order_a(void *userdata, xfsm_instance *i) {
        char *c = xfsm_instance_context_json(i);
        if (strstr(c, "\"A\""))
                snprintf(userdata, 64, "%s", xfsm_instance_id(i));
        free(c);
        return 0;
}

static void test_cross_component_create_then_target_event(void **state) {
        (void) state;
        xfsm_engine *e = engine(cross_order, cross_bank, NULL);
        const char *o1 = id_of(create(e, "Order", "{\"orderId\":\"A\",\"amount\":5,\"note\":\"x\"}"));
        const char *o2 = id_of(create(e, "Order", "{\"orderId\":\"B\",\"amount\":6}"));
        char pay[64] = "";

        assert_int_equal(send(e, o1, "SUBMIT", NULL), 0);
        assert_int_equal(send(e, o2, "SUBMIT", NULL), 0);
        xfsm_engine_foreach(e, "Bank", "Payment", NULL, take_order_a, pay);
        assert_true(*pay);
        assert_false(ctx_has(e, pay, "note")); /* mapped, not copied */
        assert_int_equal(send(e, pay, "CONFIRM", NULL), 0);
        assert_string_equal(state_of(e, o1), "Paid");
        assert_string_equal(state_of(e, o2), "Pending");
        xfsm_engine_free(e);
}

static const char ping_yaml[] =
        "name: Ping\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: S\n"
        "    states:\n"
        "      - name: S\n"
        "        cascadingRules: [{targetComponent: Pong, targetMachine: M, targetState: S, event: HIT}]\n"
        "    transitions: [{from: S, to: S, event: HIT}]\n";
static const char pong_yaml[] =
        "name: Pong\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: S\n"
        "    states:\n"
        "      - name: S\n"
        "        cascadingRules: [{targetComponent: Ping, targetMachine: M, targetState: S, event: HIT}]\n"
        "    transitions: [{from: S, to: S, event: HIT}]\n";

static void test_routed_loop_stops_after_32_hops(void **state) {
        (void) state;
        xfsm_engine *e = engine(ping_yaml, pong_yaml, NULL);
        Log log = {};
        const char *a;

        a = id_of(create(e, "M", NULL)); /* Ping.M (first component holding M) */
        (void) create;
        xfsm_engine_create(e, "Pong", "M", NULL, NULL);
        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(send(e, a, "HIT", NULL), 0);
        /* the sender's step, 32 deliveries, then the 33rd refused as a loop */
        assert_int_equal(log.steps, 1 + XFSM_MAX_HOPS + 1);
        assert_non_null(strstr(log.buf, "refused HIT"));
        xfsm_engine_free(e);
}

static const char loop_yaml[] =
        "name: L\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states: [{name: A}, {name: Spin}]\n"
        "    transitions:\n"
        "      - {from: A, to: Spin, event: GO}\n"
        "      - {from: Spin, to: Spin, event: AGAIN, type: auto}\n";

static void test_microstep_loop_is_refused_and_rolled_back(void **state) {
        (void) state;
        xfsm_engine *e = engine(loop_yaml, NULL);
        const char *m = id_of(create(e, "M", "{\"a\":1,\"n\":null}"));
        int r = send(e, m, "GO", "{\"a\":2,\"n\":3,\"new\":4}");

        assert_int_equal(r, -XFSM_E_LOOP);
        assert_string_equal(xfsm_error_name(r), "org.xfsm1.Error.Loop");
        assert_string_equal(state_of(e, m), "A");
        char *text = xfsm_instance_context_json(xfsm_engine_find(e, m));
        assert_string_equal(text, "{\"a\":1,\"n\":null}"); /* a null stays a null, a new key goes */
        free(text);
        assert_int_equal(xfsm_instance_n_timers(xfsm_engine_find(e, m)), 0);
        xfsm_engine_free(e);
}

/* ---- timers ---------------------------------------------------------------------- */

static const char timer_yaml[] =
        "name: T\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: Wait\n"
        "    states: [{name: Wait}, {name: Work}, {name: Late, type: error}, {name: Slow, type: error}]\n"
        "    transitions:\n"
        "      - {from: Wait, to: Late, event: EXPIRE, type: timeout, timeoutMs: 1000}\n"
        "      - {from: Wait, to: Wait, event: PING}\n"
        "      - {from: Wait, to: Work, event: START}\n"
        "      - {from: Work, to: Work, event: TICK}\n"
        "      - {from: Work, to: Slow, event: TOO_SLOW, type: timeout, timeoutMs: 500, resetOnTransition: false}\n";

static void test_timeout_fires_on_virtual_clock(void **state) {
        (void) state;
        xfsm_engine *e = engine(timer_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));
        uint64_t d;

        assert_int_equal(xfsm_instance_n_timers(xfsm_engine_find(e, m)), 1);
        assert_true(xfsm_engine_next_deadline(e, &d));
        assert_int_equal(d, 1000);
        assert_int_equal(xfsm_engine_advance(e, 999), 0);
        assert_string_equal(state_of(e, m), "Wait");
        assert_int_equal(xfsm_engine_advance(e, 1), 1);
        assert_string_equal(state_of(e, m), "Late");
        assert_string_equal(xfsm_instance_status(xfsm_engine_find(e, m)), "error");
        xfsm_engine_free(e);
}

static void test_self_loop_rearms_timeout(void **state) {
        (void) state;
        xfsm_engine *e = engine(timer_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));

        xfsm_engine_advance(e, 800);
        assert_int_equal(send(e, m, "PING", NULL), 0); /* re-armed: due at 1800 */
        xfsm_engine_advance(e, 900);
        assert_string_equal(state_of(e, m), "Wait");
        xfsm_engine_advance(e, 100);
        assert_string_equal(state_of(e, m), "Late");
        xfsm_engine_free(e);
}

static void test_self_loop_keeps_timer_when_reset_on_transition_false(void **state) {
        (void) state;
        xfsm_engine *e = engine(timer_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));

        assert_int_equal(send(e, m, "START", NULL), 0); /* TOO_SLOW due at 500 */
        xfsm_engine_advance(e, 400);
        assert_int_equal(send(e, m, "TICK", NULL), 0);
        xfsm_engine_advance(e, 100);
        assert_string_equal(state_of(e, m), "Slow");
        xfsm_engine_free(e);
}

static void test_timeout_cancelled_when_state_left(void **state) {
        (void) state;
        xfsm_engine *e = engine(timer_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));
        Log log = {};

        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(send(e, m, "START", NULL), 0);
        assert_non_null(strstr(log.buf, "timer-cancelled EXPIRE;"));
        assert_non_null(strstr(log.buf, "timer-armed TOO_SLOW;"));
        xfsm_engine_advance(e, 450);
        assert_string_equal(state_of(e, m), "Work");
        xfsm_engine_free(e);
}

static void test_sending_timeout_event_by_name_takes_it_at_once(void **state) {
        (void) state;
        xfsm_engine *e = engine(timer_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));

        assert_int_equal(send(e, m, "EXPIRE", NULL), 0);
        assert_string_equal(state_of(e, m), "Late");
        assert_int_equal(xfsm_instance_n_timers(xfsm_engine_find(e, m)), 0);
        assert_int_equal(xfsm_engine_advance(e, 5000), 0); /* nothing left to fire */
        xfsm_engine_free(e);
}

static const char auto_yaml[] =
        "name: A\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: Start\n"
        "    states: [{name: Start}, {name: Later}, {name: End}]\n"
        "    transitions:\n"
        "      - {from: Start, to: Later, event: SOON, type: auto, timeoutMs: 250}\n"
        "      - {from: Later, to: End, event: NOW, type: auto}\n";

static void test_auto_transition_on_entry_after_timeout(void **state) {
        (void) state;
        xfsm_engine *e = engine(auto_yaml, NULL);
        const char *m = id_of(create(e, "M", NULL));

        assert_string_equal(state_of(e, m), "Start");
        xfsm_engine_advance(e, 250);
        assert_string_equal(state_of(e, m), "End"); /* Later's auto ran at once */
        xfsm_engine_free(e);
}

/* ---- completion and retention --------------------------------------------------------- */

static const char retention_yaml[] =
        "name: K\n"
        "stateMachines:\n"
        "  - name: Keep\n"
        "    initialState: A\n"
        "    retention: {final: keep, keepMs: 60000}\n"
        "    states: [{name: A}, {name: Z, type: final}]\n"
        "    transitions: [{from: A, to: Z, event: END}]\n"
        "  - name: Drop\n"
        "    initialState: A\n"
        "    retention: {final: drop}\n"
        "    states: [{name: A}, {name: Z, type: final}]\n"
        "    transitions: [{from: A, to: Z, event: END}]\n"
        "  - name: Default\n"
        "    initialState: A\n"
        "    states: [{name: A}, {name: Z, type: final}]\n"
        "    transitions: [{from: A, to: Z, event: END}]\n";

static void test_final_state_completes_and_retention_applies(void **state) {
        (void) state;
        xfsm_engine *e = engine(retention_yaml, NULL);
        const char *k = id_of(create(e, "Keep", NULL));
        const char *d = id_of(create(e, "Drop", NULL));
        const char *f = id_of(create(e, "Default", NULL));
        const char *st = NULL;

        assert_int_equal(xfsm_engine_send(e, k, "END", NULL, &st), 0);
        assert_string_equal(st, "Z");
        assert_string_equal(xfsm_instance_status(xfsm_engine_find(e, k)), "completed");
        assert_int_equal(send(e, k, "END", NULL), -XFSM_E_NO_TRANSITION);

        assert_int_equal(xfsm_engine_send(e, d, "END", NULL, &st), 0);
        assert_string_equal(st, "Z");
        assert_null(xfsm_engine_find(e, d)); /* xcomponent's way: dropped */

        assert_int_equal(send(e, f, "END", NULL), 0);
        xfsm_engine_advance(e, 59999);
        assert_non_null(xfsm_engine_find(e, k));
        xfsm_engine_advance(e, 1);
        assert_null(xfsm_engine_find(e, k));
        /* the default keeps for 24 h */
        assert_non_null(xfsm_engine_find(e, f));
        xfsm_engine_advance(e, 24ULL * 3600 * 1000);
        assert_null(xfsm_engine_find(e, f));
        xfsm_engine_free(e);
}

/* ---- entry points ------------------------------------------------------------------ */

static const char singleton_yaml[] =
        "name: S\n"
        "entryMachine: Monitor\n"
        "stateMachines:\n"
        "  - name: Monitor\n"
        "    initialState: Idle\n"
        "    states: [{name: Idle, type: entry}, {name: Stopped, type: final}]\n"
        "    transitions: [{from: Idle, to: Stopped, event: STOP}]\n";

static const char multiple_yaml[] =
        "name: Mu\n"
        "entryMachine: Cart\n"
        "entryMachineMode: multiple\n"
        "stateMachines:\n"
        "  - name: Cart\n"
        "    initialState: Empty\n"
        "    states: [{name: Empty, type: entry}, {name: Done, type: final}]\n"
        "    transitions: [{from: Empty, to: Done, event: BUY}]\n";

static void test_singleton_entry_point_is_created_once_and_kept(void **state) {
        (void) state;
        xfsm_engine *e = engine(singleton_yaml, NULL);
        char id[64] = "";

        assert_int_equal(xfsm_engine_start(e), 0);
        assert_int_equal(xfsm_engine_start(e), 0); /* idempotent */
        assert_int_equal(xfsm_engine_n_instances(e), 1);
        xfsm_engine_foreach(e, NULL, NULL, NULL, take_id, id);
        assert_true(xfsm_instance_is_entry_point(xfsm_engine_find(e, id)));
        assert_int_equal(xfsm_engine_create(e, NULL, "Monitor", NULL, NULL), -XFSM_E_SINGLETON_EXISTS);
        assert_int_equal(send(e, id, "STOP", NULL), 0);
        xfsm_engine_advance(e, 48ULL * 3600 * 1000);
        assert_non_null(xfsm_engine_find(e, id)); /* never disposed */
        xfsm_engine_free(e);
}

static void test_multiple_entry_mode_creates_on_demand(void **state) {
        (void) state;
        xfsm_engine *e = engine(multiple_yaml, NULL);

        assert_int_equal(xfsm_engine_start(e), 0);
        assert_int_equal(xfsm_engine_n_instances(e), 0); /* autoCreateEntryPoint: false by default */
        create(e, "Cart", NULL);
        create(e, "Cart", NULL);
        assert_int_equal(xfsm_engine_n_instances(e), 2);
        xfsm_engine_free(e);
}

/* ---- broadcast, ids, queries -------------------------------------------------------------- */

static void test_broadcast_delivers_in_creation_order(void **state) {
        (void) state;
        xfsm_engine *e = engine(demo_payment, NULL);
        Log log = {};
        unsigned n = 0;
        const char *a = id_of(create(e, "Payment", NULL));
        const char *b = id_of(create(e, "Payment", NULL));

        assert_int_equal(send(e, a, "PROCESS", NULL), 0);
        create(e, "Payment", NULL);
        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(xfsm_engine_broadcast(e, NULL, "Payment", "Pending", "PROCESS", "{\"x\":1}", &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(log.steps, 1); /* one fan-out, one unit */
        assert_string_equal(state_of(e, b), "Processing");
        assert_int_equal(xfsm_engine_broadcast(e, NULL, "Payment", "Nowhere", "PROCESS", NULL, &n),
                         -XFSM_E_INVALID_ARGUMENT);
        xfsm_engine_free(e);
}

static void test_instance_ids_are_uuid4_and_properties_are_set(void **state) {
        (void) state;
        xfsm_engine *e = engine(rtc_yaml, NULL);
        xfsm_instance *i = create(e, "M", NULL);
        const char *id = xfsm_instance_id(i);

        assert_int_equal(strlen(id), 36);
        for (size_t k = 0; k < 36; k++)
                if (k == 8 || k == 13 || k == 18 || k == 23)
                        assert_int_equal(id[k], '-');
                else
                        assert_non_null(strchr("0123456789abcdef", id[k]));
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
        assert_int_equal(xfsm_instance_created_at(i), 1700000000000ULL);
        assert_string_equal(xfsm_instance_status(i), "active");
        assert_string_equal(xfsm_instance_version(i), xfsm_component_hash(e, "R"));
        assert_null(xfsm_instance_parent_id(i));
        xfsm_engine_free(e);
}

/* ---- actions ---------------------------------------------------------------------- */

static const char actions_yaml[] =
        "name: Act\n"
        "stateMachines:\n"
        "  - name: M\n"
        "    initialState: A\n"
        "    states:\n"
        "      - name: A\n"
        "        onExit: [leavingA, {assign: {left: \"'A'\"}}]\n"
        "      - name: B\n"
        "        onEntry:\n"
        "          - assign: {total: 'total + event.n', seen: 'total'}\n"
        "          - send: {to: self, event: BOUNCE, payload: {from: '{{left}}'}}\n"
        "          - send: {to: N, event: POKE, payload: {total: '{{total}}'},\n"
        "                   matchingRules: [{eventProperty: total, instanceProperty: want}]}\n"
        "      - name: C\n"
        "        onEntry:\n"
        "          - unit: {restart: demo-worker.service}\n"
        "          - exec: {argv: [/usr/bin/true, --flag], timeoutMs: 1500}\n"
        "    transitions:\n"
        "      - {from: A, to: B, event: GO, actions: [{assign: {total: 'total * 10'}}, note]}\n"
        "      - {from: B, to: C, event: BOUNCE}\n"
        "  - name: N\n"
        "    initialState: Wait\n"
        "    states: [{name: Wait}, {name: Got}]\n"
        "    transitions: [{from: Wait, to: Got, event: POKE}]\n";

static void test_actions_assign_send_and_host_effects(void **state) {
        (void) state;
        xfsm_engine *e = engine(actions_yaml, NULL);
        Log log = {};
        const char *m = id_of(create(e, "M", "{\"total\":1}"));
        const char *n1 = id_of(create(e, "N", "{\"want\":13}"));
        const char *n2 = id_of(create(e, "N", "{\"want\":99}"));
        const xfsm_step *st;
        json_object *o, *v;

        xfsm_engine_set_step_handler(e, log_step, &log);
        assert_int_equal(send(e, m, "GO", "{\"n\":3}"), 0);
        /* exit actions, transition actions, payload merge, entry actions; the self-send is queued */
        assert_string_equal(state_of(e, m), "C");
        o = context_of(e, m);
        assert_true(json_object_object_get_ex(o, "total", &v));
        assert_int_equal(json_object_get_int(v), 13); /* 1 * 10, then + event.n */
        assert_true(json_object_object_get_ex(o, "seen", &v));
        assert_int_equal(json_object_get_int(v), 13); /* assignments in order */
        assert_true(json_object_object_get_ex(o, "from", &v));
        assert_string_equal(json_object_get_string(v), "A"); /* the BOUNCE payload, from the template */
        json_object_put(o);
        /* send to a machine: matchingRules select */
        assert_string_equal(state_of(e, n1), "Got");
        assert_string_equal(state_of(e, n2), "Wait");
        if (!strstr(log.buf, "method leavingA;context;context;method note;context;transition M:A->B;context;"))
                fail_msg("%s", log.buf);

        /* unit and exec are effects for the host to run, as written */
        st = xfsm_engine_last_step(e);
        bool unit = false, exec = false;
        for (size_t k = 0; k < xfsm_step_n_effects(st); k++) {
                const xfsm_effect *f = xfsm_step_effect(st, k);
                if (xfsm_effect_get_kind(f) == XFSM_EFFECT_UNIT) {
                        assert_string_equal(xfsm_effect_unit_verb(f), "restart");
                        assert_string_equal(xfsm_effect_unit_name(f), "demo-worker.service");
                        unit = true;
                }
                if (xfsm_effect_get_kind(f) == XFSM_EFFECT_EXEC) {
                        assert_string_equal(xfsm_effect_exec_argv(f)[0], "/usr/bin/true");
                        assert_string_equal(xfsm_effect_exec_argv(f)[1], "--flag");
                        assert_null(xfsm_effect_exec_argv(f)[2]);
                        assert_int_equal(xfsm_effect_exec_timeout(f), 1500);
                        exec = true;
                }
        }
        assert_true(unit && exec);
        xfsm_engine_free(e);
}

static const char *example(const char *name) {
        static char buf[1024];
        const char *d = getenv("XFSM_EXAMPLES");
        snprintf(buf, sizeof buf, "%s/%s", d ? d : "examples", name);
        return buf;
}

static void test_delayed_send_and_cancel_on_the_virtual_clock(void **state) {
        (void) state;
        xfsm_engine *e = xfsm_engine_new();
        xfsm_instance *i;
        char id[64];
        const char *ev;
        uint64_t deadline, realtime;

        xfsm_engine_use_virtual_clock(e, 1700000000000ULL);
        assert_int_equal(xfsm_engine_load_file(e, example("connection.yaml"), fail_on_error, NULL), 0);
        i = create(e, "Link", NULL);
        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));

        /* the watchdog is armed on entering Connecting... */
        assert_int_equal(send(e, id, "CONNECT", NULL), 0);
        i = xfsm_engine_find(e, id);
        assert_int_equal(xfsm_instance_n_timers(i), 1);
        assert_int_equal(xfsm_instance_timer(i, 0, &ev, &deadline, &realtime), 0);
        assert_string_equal(ev, "GIVE_UP_WAITING");
        assert_int_equal(deadline, 5000);
        assert_int_equal(realtime, 1700000005000ULL);
        /* ...and cancelled on leaving it; the back-off send fires after a second */
        assert_int_equal(send(e, id, "FAILED", NULL), 0);
        assert_string_equal(state_of(e, id), "Waiting");
        assert_int_equal(xfsm_instance_n_timers(xfsm_engine_find(e, id)), 1);
        xfsm_engine_advance(e, 999);
        assert_string_equal(state_of(e, id), "Waiting");
        xfsm_engine_advance(e, 1);
        assert_string_equal(state_of(e, id), "Connecting");
        /* a hanging attempt: the watchdog fires */
        xfsm_engine_advance(e, 5000);
        assert_string_equal(state_of(e, id), "Down");
        assert_int_equal(xfsm_instance_n_timers(xfsm_engine_find(e, id)), 0);

        /* guards count the attempts */
        i = create(e, "Link", NULL);
        snprintf(id, sizeof id, "%s", xfsm_instance_id(i));
        assert_int_equal(send(e, id, "CONNECT", NULL), 0);
        for (int k = 0; k < 2; k++) {
                assert_int_equal(send(e, id, "FAILED", NULL), 0);
                xfsm_engine_advance(e, 1000);
        }
        assert_int_equal(send(e, id, "FAILED", NULL), 0);
        assert_string_equal(state_of(e, id), "Down");
        xfsm_engine_free(e);
}

/* ---- persistence: images ------------------------------------------------------------ */

typedef struct Images {
        char *v[16];
        size_t n;
} Images;

static int take_image(void *userdata, xfsm_instance *i) {
        Images *im = userdata;
        if (im->n < 16)
                im->v[im->n++] = xfsm_instance_to_json(i);
        return 0;
}

static void test_images_restore_equivalent_instances(void **state) {
        (void) state;
        xfsm_engine *a = xfsm_engine_new(), *b = xfsm_engine_new();
        Images im = {};
        char link[64], chart[64];
        xfsm_instance *i;

        xfsm_engine_use_virtual_clock(a, 1700000000000ULL);
        xfsm_engine_use_virtual_clock(b, 1700000000000ULL);
        assert_int_equal(xfsm_engine_load_file(a, example("connection.yaml"), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_load_file(b, example("connection.yaml"), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_load_file(a, example("media-player.yaml"), fail_on_error, NULL), 0);
        assert_int_equal(xfsm_engine_load_file(b, example("media-player.yaml"), fail_on_error, NULL), 0);

        /* a: a connection waiting on its delayed RETRY, a player in deep history */
        i = create(a, "Link", NULL);
        snprintf(link, sizeof link, "%s", xfsm_instance_id(i));
        assert_int_equal(send(a, link, "CONNECT", NULL), 0);
        assert_int_equal(send(a, link, "FAILED", NULL), 0);
        i = create(a, "Player", "{\"track\":4}");
        snprintf(chart, sizeof chart, "%s", xfsm_instance_id(i));
        assert_int_equal(send(a, chart, "POWER", NULL), 0);
        assert_int_equal(send(a, chart, "PLAY", NULL), 0);
        assert_int_equal(send(a, chart, "PAUSE", NULL), 0);
        assert_int_equal(send(a, chart, "POWER", NULL), 0);

        xfsm_engine_foreach(a, NULL, NULL, NULL, take_image, &im);
        assert_int_equal(im.n, 2);
        for (size_t k = 0; k < im.n; k++) {
                assert_int_equal(xfsm_engine_restore_json(b, im.v[k]), 0);
                assert_int_equal(xfsm_engine_restore_json(b, im.v[k]), 0); /* replacing is fine */
                free(im.v[k]);
        }
        assert_int_equal(xfsm_engine_n_instances(b), 2);
        assert_string_equal(state_of(b, link), "Waiting");
        assert_string_equal(state_of(b, chart), "Off");
        assert_int_equal(xfsm_instance_n_timers(xfsm_engine_find(b, link)), 1);

        /* both go on the same way: the delayed send fires, history resumes */
        xfsm_engine_advance(a, 1000);
        xfsm_engine_advance(b, 1000);
        assert_string_equal(state_of(b, link), state_of(a, link));
        assert_string_equal(state_of(b, link), "Connecting");
        assert_int_equal(send(a, chart, "POWER", NULL), 0);
        assert_int_equal(send(b, chart, "POWER", NULL), 0);
        assert_string_equal(state_of(b, chart), "Paused");
        assert_string_equal(state_of(a, chart), "Paused");
        assert_ctx_string(b, link, "attempts", "2");

        assert_int_equal(xfsm_engine_forget(b, link), 0);
        assert_null(xfsm_engine_find(b, link));
        assert_int_equal(xfsm_engine_restore_json(b, "{\"id\":\"x\"}"), -XFSM_E_INVALID_ARGUMENT);
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

static const char *const toggle3 = "name: T\n"
                                   "stateMachines:\n"
                                   "  - name: Toggle\n"
                                   "    initialState: Off\n"
                                   "    states: [{name: Off, type: entry}, {name: On}]\n"
                                   "    transitions:\n"
                                   "      - {from: Off, to: On, event: FLIP}\n"
                                   "      - {from: On, to: Off, event: FLIP}\n";

static int collect_ids(void *userdata, xfsm_instance *i) {
        char *out = userdata;
        strcat(out, xfsm_instance_id(i));
        strcat(out, " ");
        return 0;
}

/* Recovery: a snapshot staged, a tail that supersedes one image and drops
 * another, then the rest: the tail wins, nothing dropped comes back, creation
 * order holds. */
static void test_recovery_snapshot_superseded_by_the_tail(void **state) {
        xfsm_engine *src = engine(toggle3, NULL), *dst = engine(toggle3, NULL);
        xfsm_instance *a = create(src, "Toggle", "{\"n\":1}"), *b = create(src, "Toggle", "{\"n\":2}"),
                      *c = create(src, "Toggle", "{\"n\":3}");
        const char *ida = id_of(a), *idb = id_of(b), *idc = id_of(c);
        char *snap = NULL, *ia, *ib, *ic, *rec = NULL, before[512] = "", after[512] = "";
        (void) state;

        ia = xfsm_instance_to_json(a);
        ib = xfsm_instance_to_json(b);
        ic = xfsm_instance_to_json(c);
        assert_true(asprintf(&snap, "{\"bootId\":\"x\"}\n%s\n%s\n%s\n", ia, ib, ic) > 0);
        /* the tail: a flips (its new image), c is dropped */
        assert_int_equal(xfsm_instance_send(src, a, "FLIP", NULL, NULL), 0);
        free(ia);
        ia = xfsm_instance_to_json(a);
        assert_true(asprintf(&rec, "{\"bootId\":\"x\",\"instances\":[%s],\"dropped\":[\"%s\"]}", ia, idc) > 0);
        (void) xfsm_engine_foreach(src, NULL, NULL, NULL, collect_ids, before);

        assert_int_equal(xfsm_engine_stage_images(dst, snap, strlen(snap), "x"), 0);
        assert_int_equal(xfsm_engine_n_instances(dst), 0); /* nothing parsed yet */
        assert_int_equal(xfsm_engine_restore_record(dst, rec, strlen(rec), "x", NULL), 0);
        unsigned n = 0;
        assert_int_equal(xfsm_engine_restore_finish(dst, &n), 0);
        assert_int_equal(n, 1); /* only b came from the snapshot */
        assert_int_equal(xfsm_engine_n_instances(dst), 2);
        assert_string_equal(state_of(dst, ida), "On");
        assert_string_equal(state_of(dst, idb), "Off");
        assert_null(xfsm_engine_find(dst, idc));
        (void) xfsm_engine_foreach(dst, NULL, NULL, NULL, collect_ids, after);
        /* a before b, as they were created, although a was restored first */
        char expect[512];
        snprintf(expect, sizeof expect, "%s %s ", ida, idb);
        assert_string_equal(after, expect);

        /* a snapshot alone, finished at once, is the snapshot */
        xfsm_engine_free(dst);
        dst = engine(toggle3, NULL);
        assert_int_equal(xfsm_engine_stage_images(dst, snap, strlen(snap), "x"), 0);
        assert_int_equal(xfsm_engine_restore_finish(dst, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(state_of(dst, idc), "Off");

        free(snap);
        free(rec);
        free(ia);
        free(ib);
        free(ic);
        xfsm_engine_free(src);
        xfsm_engine_free(dst);
}


/* Reload (xfsmd(8), RELOAD): live instances keep the definition they were
 * created with; new ones get the new one; both are reached by broadcasts and
 * listings; an image restores with its own version, asked of the host. */
static const char reload_v1[] = "name: R\n"
                                "stateMachines:\n"
                                "  - name: M\n"
                                "    initialState: A\n"
                                "    states: [{name: A, type: entry}, {name: B}, {name: C, type: final}]\n"
                                "    transitions:\n"
                                "      - {from: A, to: B, event: GO}\n"
                                "      - {from: B, to: C, event: GO}\n";
static const char reload_v2[] = "name: R\n"
                                "stateMachines:\n"
                                "  - name: M\n"
                                "    initialState: A\n"
                                "    states: [{name: A, type: entry}, {name: X}, {name: C, type: final}]\n"
                                "    transitions:\n"
                                "      - {from: A, to: X, event: GO}\n"
                                "      - {from: X, to: C, event: FIN}\n";

static int count_one(void *userdata, xfsm_instance *i) {
        (void) i;
        (*(unsigned *) userdata)++;
        return 0;
}

static int load_v1(void *userdata, xfsm_engine *e, const char *component, const char *hash) {
        (*(unsigned *) userdata)++;
        assert_string_equal(component, "R");
        (void) hash;
        return xfsm_engine_load_version(e, "v1.yaml", reload_v1, strlen(reload_v1), fail_on_error, NULL);
}

static void test_reload_keeps_live_instances_on_their_version(void **state) {
        xfsm_engine *e = engine(reload_v1, NULL), *b;
        xfsm_instance *old = create(e, "M", NULL), *waiting = create(e, "M", NULL), *fresh;
        char v1[64], *image;
        unsigned n = 0, asked = 0, delivered = 0;
        (void) state;

        snprintf(v1, sizeof v1, "%s", xfsm_component_hash(e, "R"));
        assert_int_equal(xfsm_instance_send(e, old, "GO", NULL, NULL), 0); /* in B, a state v2 does not have */
        assert_int_equal(xfsm_engine_reload_string(e, "v2.yaml", reload_v2, strlen(reload_v2), fail_on_error, NULL), 1);
        assert_string_not_equal(xfsm_component_hash(e, "R"), v1);
        assert_int_equal(xfsm_component_n_versions(e, "R"), 2);
        assert_int_equal(xfsm_engine_n_components(e), 1);
        /* the same text again changes nothing */
        assert_int_equal(xfsm_engine_reload_string(e, "v2.yaml", reload_v2, strlen(reload_v2), fail_on_error, NULL), 0);
        /* a broken one changes nothing either */
        assert_true(xfsm_engine_reload_string(e, "bad.yaml", "name: R\nstateMachines: 3\n", 26, NULL, NULL) < 0);
        assert_int_equal(xfsm_component_n_versions(e, "R"), 2);

        /* the old instance goes on with v1: B --GO--> C */
        assert_string_equal(xfsm_instance_version(old), v1);
        assert_int_equal(xfsm_instance_send(e, old, "GO", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(old), "C");
        /* a new one uses v2: A --GO--> X */
        fresh = create(e, "M", NULL);
        assert_string_not_equal(xfsm_instance_version(fresh), v1);
        assert_int_equal(xfsm_instance_send(e, fresh, "GO", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(fresh), "X");
        /* listings and broadcasts reach every version, by machine and state name */
        xfsm_engine_foreach(e, "R", "M", NULL, count_one, &n);
        assert_int_equal(n, 3);
        assert_int_equal(xfsm_engine_broadcast(e, "R", "M", "A", "GO", NULL, &delivered), 0);
        assert_int_equal(delivered, 1);
        assert_string_equal(xfsm_instance_state(waiting), "B"); /* v1's GO from A */

        /* an image restores with its own version, which recovery asks the host for */
        image = xfsm_instance_to_json(waiting);
        assert_non_null(image);
        b = engine(reload_v2, NULL);
        xfsm_engine_set_version_loader(b, load_v1, &asked);
        assert_int_equal(xfsm_engine_restore_json(b, image), 0);
        assert_int_equal(asked, 1);
        xfsm_instance *back = xfsm_engine_find(b, xfsm_instance_id(waiting));
        assert_non_null(back);
        assert_string_equal(xfsm_instance_version(back), v1);
        assert_string_equal(xfsm_instance_state(back), "B");
        assert_int_equal(xfsm_instance_send(b, back, "GO", NULL, NULL), 0);
        assert_string_equal(xfsm_instance_state(back), "C");
        assert_int_equal(xfsm_engine_n_components(b), 1);
        free(image);
        xfsm_engine_free(b);
        xfsm_engine_free(e);
}

/* The host's origin of a call comes back with every step the call makes
 * (its own first, then the deliveries it caused in this engine), and with
 * no step of another call. */
typedef struct Origins {
        void *seen[8];
        const char *components[8];
        size_t n;
} Origins;

static void record_origin(void *userdata, const xfsm_step *s) {
        Origins *o = userdata;
        if (o->n < 8) {
                o->seen[o->n] = xfsm_step_origin(s);
                o->components[o->n++] = xfsm_step_component(s);
        }
}

static void test_step_origin_comes_back_with_the_steps_of_its_call(void **state) {
        static const char a[] = "name: A\nstateMachines:\n  - name: S\n    initialState: X\n"
                                "    states:\n      - {name: X}\n"
                                "      - name: Y\n        cascadingRules: [{targetComponent: B, targetMachine: R, "
                                "targetState: W, event: PING}]\n"
                                "    transitions: [{from: X, to: Y, event: GO}, {from: Y, to: X, event: BACK}]\n";
        static const char b[] = "name: B\nstateMachines:\n  - name: R\n    initialState: W\n"
                                "    states: [{name: W}]\n"
                                "    transitions: [{from: W, to: W, event: PING, type: internal}]\n";
        xfsm_engine *e = engine(a, b, NULL);
        xfsm_instance *r = NULL, *i;
        Origins o = {};
        int token;

        assert_int_equal(xfsm_engine_create(e, "B", "R", NULL, &r), 0);
        i = create(e, "S", NULL);
        xfsm_engine_set_step_handler(e, record_origin, &o);
        assert_int_equal(xfsm_instance_send_from(e, i, "GO", NULL, &token, NULL), 0);
        assert_int_equal(o.n, 2);
        assert_ptr_equal(o.seen[0], &token);
        assert_string_equal(o.components[0], "A");
        assert_ptr_equal(o.seen[1], &token); /* the cascade delivered in this engine, same call */
        assert_string_equal(o.components[1], "B");
        o.n = 0;
        assert_int_equal(xfsm_instance_send(e, i, "BACK", NULL, NULL), 0);
        assert_int_equal(o.n, 1);
        assert_null(o.seen[0]); /* another call: none */
        xfsm_engine_free(e);
}

/* A targetless transition in a flat machine: its actions run, the state is
 * neither left nor entered (no exit or entry actions), its timeout runs on
 * and an auto transition is not queued again. */
static void test_targetless_in_a_flat_machine(void **state) {
        static const char yaml[] = "name: F\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: A\n"
                                   "    states:\n"
                                   "      - {name: A, onEntry: [{assign: {in: 'in + 1'}}], onExit: [{assign: {out: 'out + 1'}}]}\n"
                                   "      - {name: Late}\n"
                                   "    transitions:\n"
                                   "      - {from: A, event: NOTE, actions: [{assign: {notes: 'notes + 1'}}]}\n"
                                   "      - {from: A, to: Late, event: LATE, type: timeout, timeoutMs: 1000}\n";
        xfsm_engine *e = engine(yaml, NULL);
        const char *id = id_of(create(e, "M", "{\"in\": 0, \"out\": 0, \"notes\": 0}"));
        json_object *o, *v;
        (void) state;

        assert_int_equal(xfsm_engine_advance(e, 600), 0);
        assert_int_equal(send(e, id, "NOTE", NULL), 0);
        assert_int_equal(send(e, id, "NOTE", NULL), 0);
        assert_string_equal(state_of(e, id), "A");
        o = context_of(e, id);
        assert_true(json_object_object_get_ex(o, "notes", &v));
        assert_int_equal(json_object_get_int(v), 2);
        assert_true(json_object_object_get_ex(o, "in", &v));
        assert_int_equal(json_object_get_int(v), 1);
        assert_true(json_object_object_get_ex(o, "out", &v));
        assert_int_equal(json_object_get_int(v), 0);
        json_object_put(o);
        /* the timeout armed on entry at 0 fires at 1000, not 1000 after NOTE */
        assert_int_equal(xfsm_engine_advance(e, 399), 0);
        assert_int_equal(xfsm_engine_advance(e, 1), 1);
        assert_string_equal(state_of(e, id), "Late");
        xfsm_engine_free(e);
}

/* An instance of a machine with eventless transitions, restored from its
 * image into another engine, goes on as the original does. */
static void test_eventless_instances_restore(void **state) {
        static const char yaml[] = "name: R\n"
                                   "stateMachines:\n"
                                   "  - name: M\n"
                                   "    initialState: Idle\n"
                                   "    states:\n"
                                   "      - name: Idle\n"
                                   "      - name: Work\n"
                                   "        type: parallel\n"
                                   "        states:\n"
                                   "          - {name: Left, states: [{name: L1}, {name: L2}]}\n"
                                   "          - {name: Right, states: [{name: R1}, {name: R2}]}\n"
                                   "      - {name: Done, type: final}\n"
                                   "    transitions:\n"
                                   "      - {from: Idle, to: Work, event: GO}\n"
                                   "      - {from: Work, event: ADD, actions: [{assign: {n: 'n + 1'}}]}\n"
                                   "      - {from: L1, to: L2, guard: 'n >= 1'}\n"
                                   "      - {from: R1, to: R2, guard: 'n >= 2'}\n"
                                   "      - {from: Work, to: Done, guard: 'n >= 3'}\n";
        xfsm_engine *a = engine(yaml, NULL), *b = engine(yaml, NULL);
        const char *id = id_of(create(a, "M", "{\"n\": 0}"));
        Images im = {};
        (void) state;

        assert_int_equal(send(a, id, "GO", NULL), 0);
        assert_int_equal(send(a, id, "ADD", NULL), 0);
        assert_string_equal(state_of(a, id), "L2,R1");
        xfsm_engine_foreach(a, NULL, NULL, NULL, take_image, &im);
        assert_int_equal(im.n, 1);
        assert_int_equal(xfsm_engine_restore_json(b, im.v[0]), 0);
        free(im.v[0]);
        assert_string_equal(state_of(b, id), "L2,R1");
        assert_int_equal(send(b, id, "ADD", NULL), 0);
        assert_string_equal(state_of(b, id), "L2,R2");
        assert_int_equal(send(b, id, "ADD", NULL), 0);
        assert_string_equal(state_of(b, id), "Done");
        assert_string_equal(xfsm_instance_status(xfsm_engine_find(b, id)), "completed");
        xfsm_engine_free(a);
        xfsm_engine_free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_recovery_snapshot_superseded_by_the_tail),
                cmocka_unit_test(test_reload_keeps_live_instances_on_their_version),
                cmocka_unit_test(test_inter_machine_child_parent_link_and_notify_parent),
                cmocka_unit_test(test_transition_order_of_effects),
                cmocka_unit_test(test_run_to_completion_auto_chain_in_one_step),
                cmocka_unit_test(test_flat_auto_waits_behind_events_sent_on_entry),
                cmocka_unit_test(test_choosing_first_candidate_whose_rules_hold),
                cmocka_unit_test(test_direct_send_single_candidate_ignores_matching_rules),
                cmocka_unit_test(test_first_candidate_whose_guard_holds_is_taken),
                cmocka_unit_test(test_guard_failed_is_an_error_and_changes_nothing),
                cmocka_unit_test(test_no_transition_is_an_error_and_changes_nothing),
                cmocka_unit_test(test_bad_input_is_refused_with_named_errors),
                cmocka_unit_test(test_payloads_stay_strict_after_a_restore),
                cmocka_unit_test(test_payload_parse_keeps_the_callers_locale),
                cmocka_unit_test(test_payloads_must_be_utf8),
                cmocka_unit_test(test_payload_merge_is_shallow),
                cmocka_unit_test(test_template_exact_value_keeps_json_type),
                cmocka_unit_test(test_cascade_without_rules_reaches_every_instance_in_state),
                cmocka_unit_test(test_cascade_matching_rules_select_receivers),
                cmocka_unit_test(test_routed_event_wire_form_round_trip),
                cmocka_unit_test(test_routed_form_carries_each_rule_resolved_value),
                cmocka_unit_test(test_xcomponent_filters_select_with_javascript_rules),
                cmocka_unit_test(test_xcomponent_event_any_state_direct_send_and_payload_merge),
                cmocka_unit_test(test_routed_wire_form_is_stable_and_reads_back),
                cmocka_unit_test(test_cross_component_create_then_target_event),
                cmocka_unit_test(test_routed_loop_stops_after_32_hops),
                cmocka_unit_test(test_microstep_loop_is_refused_and_rolled_back),
                cmocka_unit_test(test_timeout_fires_on_virtual_clock),
                cmocka_unit_test(test_self_loop_rearms_timeout),
                cmocka_unit_test(test_self_loop_keeps_timer_when_reset_on_transition_false),
                cmocka_unit_test(test_timeout_cancelled_when_state_left),
                cmocka_unit_test(test_sending_timeout_event_by_name_takes_it_at_once),
                cmocka_unit_test(test_auto_transition_on_entry_after_timeout),
                cmocka_unit_test(test_final_state_completes_and_retention_applies),
                cmocka_unit_test(test_singleton_entry_point_is_created_once_and_kept),
                cmocka_unit_test(test_multiple_entry_mode_creates_on_demand),
                cmocka_unit_test(test_broadcast_delivers_in_creation_order),
                cmocka_unit_test(test_instance_ids_are_uuid4_and_properties_are_set),
                cmocka_unit_test(test_actions_assign_send_and_host_effects),
                cmocka_unit_test(test_delayed_send_and_cancel_on_the_virtual_clock),
                cmocka_unit_test(test_images_restore_equivalent_instances),
                cmocka_unit_test(test_step_origin_comes_back_with_the_steps_of_its_call),
                cmocka_unit_test(test_targetless_in_a_flat_machine),
                cmocka_unit_test(test_eventless_instances_restore),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
