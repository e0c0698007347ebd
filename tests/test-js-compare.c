/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JavaScript's comparison operators over JSON values (lib/js-compare.c), as
 * Node evaluates "instance value OP filter value" in xcomponent-ai's
 * filters: each row is what node prints for the same expression. */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "js-compare.h"
#include "macro.h"

/* "undefined" stands for an absent side; anything else is JSON text */
static bool cmp(const char *a, MatchOp op, const char *b) {
        json_object *x = streq_ptr(a, "undefined") ? NULL : json_tokener_parse(a);
        json_object *y = streq_ptr(b, "undefined") ? NULL : json_tokener_parse(b);
        bool r = js_compare(streq_ptr(a, "undefined") ? js_undefined() : js_value(x), op,
                            streq_ptr(b, "undefined") ? js_undefined() : js_value(y));
        json_object_put(x);
        json_object_put(y);
        return r;
}

static void test_strict_equality_needs_same_type_and_value(void **state) {
        assert_true(cmp("5", MATCH_EQ, "5"));
        assert_true(cmp("5", MATCH_EQ, "5.0"));
        /* one number type, a double: 2^53 + 1 reads as 2^53 */
        assert_true(cmp("9007199254740993", MATCH_EQ, "9007199254740992"));
        assert_true(cmp("18446744073709551615", MATCH_GT, "9223372036854775807"));
        assert_false(cmp("\"5\"", MATCH_EQ, "5"));
        assert_true(cmp("\"5\"", MATCH_NE, "5"));
        assert_true(cmp("null", MATCH_EQ, "null"));
        assert_false(cmp("null", MATCH_EQ, "undefined"));
        assert_true(cmp("undefined", MATCH_EQ, "undefined"));
        assert_false(cmp("0", MATCH_EQ, "false"));
        assert_true(cmp("true", MATCH_EQ, "true"));
        assert_true(cmp("\"a\\u00e9\"", MATCH_EQ, "\"a\\u00e9\""));
        /* objects and arrays parsed apart are never the same object */
        assert_false(cmp("{}", MATCH_EQ, "{}"));
        assert_false(cmp("[1]", MATCH_EQ, "[1]"));
        assert_true(cmp("[1]", MATCH_NE, "[1]"));
}

static void test_relational_strings_numbers_and_coercion(void **state) {
        assert_true(cmp("\"5\"", MATCH_GT, "4"));
        assert_true(cmp("\"5\"", MATCH_GT, "\"40\"")); /* two strings: by code units */
        assert_true(cmp("\"10\"", MATCH_LT, "\"9\""));
        assert_false(cmp("10", MATCH_LT, "9"));
        assert_true(cmp("\"b\"", MATCH_GT, "\"a\""));
        assert_true(cmp("\"B\"", MATCH_LT, "\"a\""));
        assert_false(cmp("\"abc\"", MATCH_LT, "1"));   /* NaN */
        assert_false(cmp("\"abc\"", MATCH_GE, "1"));
        assert_false(cmp("\"abc\"", MATCH_LE, "1"));
        assert_true(cmp("null", MATCH_GE, "0"));        /* null is 0 for < and >= */
        assert_false(cmp("null", MATCH_GT, "0"));
        assert_true(cmp("true", MATCH_GT, "0"));
        assert_true(cmp("\"\"", MATCH_LE, "0"));        /* "" is 0 */
        assert_true(cmp("\" 12 \"", MATCH_EQ, "\" 12 \""));
        assert_true(cmp("\" 12\\n\"", MATCH_GE, "12"));   /* trimmed */
        assert_true(cmp("\"0x10\"", MATCH_EQ, "\"0x10\""));
        assert_true(cmp("\"0x10\"", MATCH_GE, "16"));
        assert_true(cmp("\"0x10\"", MATCH_LE, "16"));
        assert_false(cmp("\"-0x10\"", MATCH_LT, "0"));    /* no sign before 0x: NaN */
        assert_true(cmp("\"1e3\"", MATCH_GE, "1000"));
        assert_true(cmp("\"-Infinity\"", MATCH_LT, "-1e308"));
        assert_false(cmp("\"infinity\"", MATCH_GT, "0"));
        assert_true(cmp("\".5\"", MATCH_LT, "1"));
        assert_false(cmp("\"5.\"", MATCH_NE, "\"5.\""));
        assert_true(cmp("\"5.\"", MATCH_GE, "5"));
        assert_false(cmp("\"1_000\"", MATCH_GT, "1"));
        /* undefined: every relational comparison is false, <= and >= too */
        assert_false(cmp("undefined", MATCH_LT, "1"));
        assert_false(cmp("undefined", MATCH_GE, "1"));
        assert_false(cmp("undefined", MATCH_LE, "undefined"));
        /* arrays and objects go through their strings */
        assert_true(cmp("[5]", MATCH_GT, "4"));
        assert_true(cmp("[5]", MATCH_GT, "\"40\""));    /* "5" > "40" */
        assert_true(cmp("[]", MATCH_LE, "0"));
        assert_false(cmp("[1,2]", MATCH_LT, "3"));      /* "1,2": NaN */
        assert_true(cmp("[1,2]", MATCH_LT, "\"1,3\""));
        assert_true(cmp("[0.1]", MATCH_GE, "\"0.1\""));
        assert_true(cmp("[0.1]", MATCH_LE, "\"0.1\""));
        assert_true(cmp("[1e21]", MATCH_GE, "\"1e+21\""));
        assert_true(cmp("[1e21]", MATCH_LE, "\"1e+21\""));
        assert_true(cmp("[1e-7]", MATCH_LE, "\"1e-7\""));
        assert_true(cmp("[1e20]", MATCH_GE, "\"100000000000000000000\""));
        assert_true(cmp("{}", MATCH_GE, "\"[object Object]\""));
        assert_false(cmp("{}", MATCH_GT, "0"));
}

static void test_string_order_is_by_utf16_code_units(void **state) {
        /* U+1F600 is D83D DE00 in UTF-16: before U+FF21, unlike in UTF-8 bytes */
        assert_true(cmp("\"\\ud83d\\ude00\"", MATCH_LT, "\"\\uff21\""));
        assert_true(cmp("\"ab\"", MATCH_GT, "\"a\""));
        assert_true(cmp("\"\"", MATCH_LT, "\"a\""));
}

static void test_string_to_number(void **state) {
        assert_true(js_string_to_number("", 0) == 0);
        assert_true(js_string_to_number("  42 ", 5) == 42);
        assert_true(js_string_to_number("-4.5e1", 6) == -45);
        assert_true(js_string_to_number("0b101", 5) == 5);
        assert_true(js_string_to_number("0o17", 4) == 15);
        assert_true(isnan(js_string_to_number("12px", 4)));
        assert_true(isnan(js_string_to_number("+", 1)));
        assert_true(isnan(js_string_to_number("0x", 2)));
        assert_true(isnan(js_string_to_number("1 2", 3)));
        assert_true(isinf(js_string_to_number("+Infinity", 9)));
        assert_true(js_string_to_number("\xc2\xa0" "7", 3) == 7); /* U+00A0 is white space */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strict_equality_needs_same_type_and_value),
                cmocka_unit_test(test_relational_strings_numbers_and_coercion),
                cmocka_unit_test(test_string_order_is_by_utf16_code_units),
                cmocka_unit_test(test_string_to_number),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
