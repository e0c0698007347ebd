/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The guard language: precedence, each operator, types, missing paths, and
 * where syntax errors point. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "guard.h"

static json_object *ctx, *ev;

static int setup(void **state) {
        (void) state;
        ctx = json_tokener_parse("{\"amount\":6000,\"limit\":5000,\"name\":\"ann\",\"zero\":0,\"flag\":true,"
                                 "\"nothing\":null,\"tags\":[\"a\",\"b\"],\"nested\":{\"x\":{\"y\":7}},\"s5\":\"5\"}");
        ev = json_tokener_parse("{\"qty\":3,\"who\":\"bob\",\"payload\":{\"deep\":1}}");
        return 0;
}

static int teardown(void **state) {
        (void) state;
        json_object_put(ctx);
        json_object_put(ev);
        return 0;
}

static GuardResult run(const char *text) {
        size_t off = 0;
        const char *msg = NULL;
        Guard *g = guard_parse(text, &off, &msg);
        GuardResult r;
        if (!g)
                fail_msg("'%s' did not parse: %s at %zu", text, msg, off);
        r = guard_eval(g, ctx, ev);
        guard_free(g);
        return r;
}

#define TRUE_(t) assert_int_equal(run(t), GUARD_TRUE)
#define FALSE_(t) assert_int_equal(run(t), GUARD_FALSE)

static void test_comparisons_and_both_equality_spellings(void **state) {
        (void) state;
        TRUE_("context.amount > 5000");
        FALSE_("context.amount <= 5000");
        TRUE_("amount >= limit");
        FALSE_("amount < limit");
        TRUE_("name == 'ann'");
        TRUE_("name === \"ann\"");
        TRUE_("name != 'bob'");
        TRUE_("name !== 'bob'");
        TRUE_("'ann' < 'bob'");
        TRUE_("event.qty == 3");
        TRUE_("event.who == 'bob'");
}

static void test_precedence(void **state) {
        (void) state;
        TRUE_("1 + 2 * 3 == 7");
        TRUE_("(1 + 2) * 3 == 9");
        TRUE_("10 - 4 - 3 == 3"); /* left to right */
        TRUE_("12 / 3 / 2 == 2");
        TRUE_("false && false || true"); /* && binds tighter than || */
        FALSE_("false && (false || true)");
        TRUE_("!false && true");
        TRUE_("!(amount > 1) == false");
        TRUE_("-2 * -3 == 6");
        TRUE_("amount > limit && name == 'ann' || zero");
}

static void test_boolean_logic_and_truthiness(void **state) {
        (void) state;
        TRUE_("flag");
        FALSE_("!flag");
        FALSE_("zero");
        FALSE_("nothing");
        FALSE_("missing.path");
        TRUE_("name");
        FALSE_("''");
        TRUE_("tags");
        TRUE_("zero || name");
}

static void test_in_and_exists(void **state) {
        (void) state;
        TRUE_("name in ['bob', 'ann']");
        FALSE_("name in ['bob', 'carl']");
        TRUE_("event.qty in [1, 2, 3]");
        FALSE_("s5 in [5]"); /* "5" is not 5 */
        TRUE_("amount in [limit + 1000]");
        FALSE_("name in []");
        TRUE_("exists(context.nothing)"); /* there, even if null */
        FALSE_("exists(context.missing)");
        TRUE_("exists(event.who)");
        TRUE_("exists(nested.x.y) && nested.x.y == 7");
        TRUE_("tags[1] == 'b'");
        TRUE_("event.payload.deep == 1"); /* the payload has a 'payload' key: it is taken as is */
}

static void test_types_predictable(void **state) {
        (void) state;
        FALSE_("s5 == 5");    /* different types are never equal */
        TRUE_("s5 != 5");     /* so != is true */
        FALSE_("s5 > 1");     /* and never ordered */
        FALSE_("s5 <= 1");
        FALSE_("missing == 0");
        TRUE_("missing == null");
        FALSE_("name + 1 == 'ann1'"); /* arithmetic is on numbers only */
        TRUE_("(name + 1) == null");
        TRUE_("0.1 + 0.2 > 0.3 - 0.0001");
        TRUE_("flag == true");
        FALSE_("flag == 1");
}

static void test_division_by_zero_makes_the_guard_false_and_says_so(void **state) {
        (void) state;
        assert_int_equal(run("amount / zero > 1"), GUARD_DIV_ZERO);
        assert_int_equal(run("amount / zero < 1"), GUARD_DIV_ZERO);
        assert_int_equal(run("amount / 2 == 3000"), GUARD_TRUE);
}

static void check_error(const char *text, size_t want_offset, const char *want_message) {
        size_t off = 999;
        const char *msg = NULL;
        Guard *g = guard_parse(text, &off, &msg);
        if (g)
                fail_msg("'%s' parsed", text);
        if (off != want_offset || !strstr(msg, want_message))
                fail_msg("'%s': want '%s' at %zu, got '%s' at %zu", text, want_message, want_offset, msg, off);
}

static void test_syntax_errors_point_into_the_expression(void **state) {
        (void) state;
        check_error("amount >", 8, "expected an expression");
        check_error("amount = 5", 7, "'=' is not a comparison");
        check_error("(amount > 1", 11, "expected ')'");
        check_error("name == 'ann", 8, "unterminated string");
        check_error("amount > 1 limit", 11, "unexpected text");
        check_error("context.", 8, "expected a name after '.'");
        check_error("x in 5", 5, "expected '[' after in");
        check_error("a in [1, 2", 10, "expected ',' or ']'");
        check_error("exists 5", 7, "expected '(' after exists");
        check_error("1 + * 2", 4, "expected an expression");
        check_error("", 0, "expected an expression");
}

static void test_depth_and_size_are_bounded(void **state) {
        char deep[400];
        (void) state;
        memset(deep, '(', 200);
        strcpy(deep + 200, "1");
        check_error(deep, 63, "nested too deeply"); /* where the limit was passed */
        /* ! chains are bounded too */
        memset(deep, '!', 300);
        strcpy(deep + 300, "a");
        size_t off;
        const char *msg;
        assert_null(guard_parse(deep, &off, &msg));
}

static void test_assign_values_keep_their_type(void **state) {
        (void) state;
        size_t off;
        const char *msg;
        bool dz;
        Guard *g = guard_parse("amount + event.qty", &off, &msg);
        json_object *v = guard_eval_value(g, ctx, ev, &dz);
        assert_true(json_object_is_type(v, json_type_int));
        assert_int_equal(json_object_get_int(v), 6003);
        json_object_put(v);
        guard_free(g);
        g = guard_parse("amount / 4000", &off, &msg);
        v = guard_eval_value(g, ctx, ev, &dz);
        assert_true(json_object_is_type(v, json_type_double));
        json_object_put(v);
        guard_free(g);
        g = guard_parse("event.who", &off, &msg);
        v = guard_eval_value(g, ctx, ev, &dz);
        assert_string_equal(json_object_get_string(v), "bob");
        json_object_put(v);
        guard_free(g);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_comparisons_and_both_equality_spellings),
                cmocka_unit_test(test_precedence),
                cmocka_unit_test(test_boolean_logic_and_truthiness),
                cmocka_unit_test(test_in_and_exists),
                cmocka_unit_test(test_types_predictable),
                cmocka_unit_test(test_division_by_zero_makes_the_guard_false_and_says_so),
                cmocka_unit_test(test_syntax_errors_point_into_the_expression),
                cmocka_unit_test(test_depth_and_size_are_bounded),
                cmocka_unit_test(test_assign_values_keep_their_type),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
