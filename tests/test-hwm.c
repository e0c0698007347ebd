/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The receiver's high-water marks (daemon/hwm.c), alone: ordering, keys by
 * (component, source, incarnation), forgetting old incarnations, and the
 * record forms round trip. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hwm.h"

#define INC_A "0123456789abcdef0123456789abcdef"
#define INC_B "fedcba9876543210fedcba9876543210"

static bool seen(HwmTable *t, const char *component, const char *source, const char *inc, uint64_t seq,
                 unsigned rule) {
        RouteId id = { source, inc, seq, rule };
        return hwm_seen(t, component, &id);
}

static void set(HwmTable *t, const char *component, const char *source, const char *inc, uint64_t seq,
                unsigned rule) {
        RouteId id = { source, inc, seq, rule };
        assert_true(hwm_set(t, component, &id) >= 0);
}

/* Per (component, source, incarnation), ordered by the source's journal
 * sequence and then the rule index; what is at or below the mark was taken. */
static void test_marks_order_by_sequence_then_rule(void **state) {
        HwmTable *t = NULL;

        assert_int_equal(hwm_new(&t), 0);
        assert_false(seen(t, "Payment", "Order", INC_A, 1, 0));
        set(t, "Payment", "Order", INC_A, 5, 1);
        assert_true(seen(t, "Payment", "Order", INC_A, 4, 9));  /* an earlier record */
        assert_true(seen(t, "Payment", "Order", INC_A, 5, 0));  /* an earlier rule of the same record */
        assert_true(seen(t, "Payment", "Order", INC_A, 5, 1));  /* itself, again */
        assert_false(seen(t, "Payment", "Order", INC_A, 5, 2)); /* the next rule */
        assert_false(seen(t, "Payment", "Order", INC_A, 6, 0));
        /* marks are per source and per receiving component */
        assert_false(seen(t, "Payment", "Shipping", INC_A, 1, 0));
        assert_false(seen(t, "Audit", "Order", INC_A, 1, 0));
        /* a mark never goes back */
        set(t, "Payment", "Order", INC_A, 3, 0);
        assert_true(seen(t, "Payment", "Order", INC_A, 5, 1));
        assert_false(seen(t, "Payment", "Order", INC_A, 5, 2));
        hwm_free(t);
}

/* A source that lost its state starts again at 1 under a new incarnation:
 * its events are new, whatever the old incarnation's mark. */
static void test_new_incarnation_is_not_held_back_by_the_old_mark(void **state) {
        HwmTable *t = NULL;

        assert_int_equal(hwm_new(&t), 0);
        set(t, "Payment", "Order", INC_A, 1000, 0);
        assert_false(seen(t, "Payment", "Order", INC_B, 1, 0));
        set(t, "Payment", "Order", INC_B, 1, 0);
        assert_true(seen(t, "Payment", "Order", INC_B, 1, 0));
        /* the old incarnation's redeliveries are still recognised */
        assert_true(seen(t, "Payment", "Order", INC_A, 999, 3));
        /* events of a sender without incarnations ("") keep a mark of their own */
        assert_false(seen(t, "Payment", "Order", "", 1, 0));
        assert_int_equal(hwm_count(t, "Payment"), 2);
        hwm_free(t);
}

/* Past HWM_INCARNATIONS_MAX incarnations of one source, the least recently
 * raised mark goes; other sources keep theirs. */
static void test_old_incarnations_are_forgotten(void **state) {
        HwmTable *t = NULL;
        char inc[40];

        assert_int_equal(hwm_new(&t), 0);
        set(t, "Payment", "Audit", INC_A, 7, 0);
        for (unsigned k = 0; k < HWM_INCARNATIONS_MAX + 4; k++) {
                snprintf(inc, sizeof inc, "%032x", k);
                set(t, "Payment", "Order", inc, 1, 0);
        }
        assert_int_equal(hwm_count(t, "Payment"), HWM_INCARNATIONS_MAX + 1);
        snprintf(inc, sizeof inc, "%032x", 0);
        assert_false(seen(t, "Payment", "Order", inc, 1, 0)); /* the oldest went */
        snprintf(inc, sizeof inc, "%032x", HWM_INCARNATIONS_MAX + 3);
        assert_true(seen(t, "Payment", "Order", inc, 1, 0));
        assert_true(seen(t, "Payment", "Audit", INC_A, 7, 0));
        hwm_free(t);
}

static json_object *written(void (*fn)(FILE *f, const void *arg), const void *arg) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_object *o;

        fn(f, arg);
        fclose(f);
        o = json_tokener_parse(buf);
        assert_non_null(o);
        free(buf);
        return o;
}

static void write_all_payment(FILE *f, const void *arg) {
        hwm_write_all(arg, "Payment", f);
}

static void write_one(FILE *f, const void *arg) {
        hwm_write_one(f, arg);
}

/* What a snapshot (all marks) and a Deliver's record (one mark) hold reads
 * back the same; the form of older journals (no incarnation) reads as "". */
static void test_record_forms_round_trip(void **state) {
        HwmTable *t = NULL, *u = NULL;
        RouteId one = { "Shipping", INC_B, 12, 2 };
        json_object *o;

        assert_int_equal(hwm_new(&t), 0);
        assert_int_equal(hwm_new(&u), 0);
        set(t, "Payment", "Order", INC_A, 5, 1);
        set(t, "Payment", "Order", "", 9, 0);
        set(t, "Audit", "Order", INC_A, 77, 0);

        o = written(write_all_payment, t);
        assert_int_equal(hwm_read(u, "Payment", o), 1);
        json_object_put(o);
        assert_int_equal(hwm_count(u, "Payment"), 2);
        assert_true(seen(u, "Payment", "Order", INC_A, 5, 1));
        assert_false(seen(u, "Payment", "Order", INC_A, 5, 2));
        assert_true(seen(u, "Payment", "Order", "", 9, 0));
        assert_false(seen(u, "Audit", "Order", INC_A, 1, 0)); /* another component's: not in Payment's snapshot */

        o = written(write_one, &one);
        assert_true(hwm_read(u, "Payment", o) >= 0);
        json_object_put(o);
        assert_true(seen(u, "Payment", "Shipping", INC_B, 12, 2));

        o = json_tokener_parse("{\"source\":\"Billing\",\"seq\":4,\"rule\":0}");
        assert_true(hwm_read(u, "Payment", o) >= 0);
        json_object_put(o);
        assert_true(seen(u, "Payment", "Billing", "", 4, 0));
        assert_false(seen(u, "Payment", "Billing", INC_A, 4, 0));

        o = json_tokener_parse("[{\"seq\":4}]");
        assert_true(hwm_read(u, "Payment", o) < 0); /* no source: refused */
        json_object_put(o);
        hwm_free(t);
        hwm_free(u);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_marks_order_by_sequence_then_rule),
                cmocka_unit_test(test_new_incarnation_is_not_held_back_by_the_old_mark),
                cmocka_unit_test(test_old_incarnations_are_forgotten),
                cmocka_unit_test(test_record_forms_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
