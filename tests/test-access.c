/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The grant cache of polkit.c (SPEC section 6): keyed by caller, action and
 * details; at most 5 s; a caller's grants forgotten with its name, all of
 * them when polkit's rules change. And the process start time polkit is
 * given for peers. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "manager.h"
#include "polkit.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static void remember(Manager *m, const char *caller, const char *action, const AccessDetails *d, uint64_t at) {
        char *key = polkit_key(caller, action, d);
        assert_non_null(key);
        assert_int_equal(polkit_remember(m, key, at), 0);
        free(key);
}

static bool granted(Manager *m, const char *caller, const char *action, const AccessDetails *d) {
        char *key = polkit_key(caller, action, d);
        bool g = polkit_granted(m, key);
        free(key);
        return g;
}

static void test_grant_is_keyed_by_caller_action_and_every_detail(void **state) {
        Manager m = {};
        AccessDetails d = { "OrderComponent", "Order", "VALIDATE" };
        (void) state;

        remember(&m, ":1.5", "org.xfsm1.send-event", &d, now_usec());
        assert_true(granted(&m, ":1.5", "org.xfsm1.send-event", &d));
        assert_false(granted(&m, ":1.6", "org.xfsm1.send-event", &d));
        assert_false(granted(&m, ":1.5", "org.xfsm1.create-instance", &d));
        assert_false(granted(&m, ":1.5", "org.xfsm1.send-event", &(AccessDetails) { "PaymentComponent", "Order", "VALIDATE" }));
        assert_false(granted(&m, ":1.5", "org.xfsm1.send-event", &(AccessDetails) { "OrderComponent", "Other", "VALIDATE" }));
        assert_false(granted(&m, ":1.5", "org.xfsm1.send-event", &(AccessDetails) { "OrderComponent", "Order", "COMPLETE" }));
        /* a question without the event is another question */
        assert_false(granted(&m, ":1.5", "org.xfsm1.send-event", &(AccessDetails) { "OrderComponent", "Order", NULL }));
        polkit_done(&m);
}

static void test_grant_lasts_at_most_five_seconds(void **state) {
        Manager m = {};
        AccessDetails d = { "C", "M", "E" };
        uint64_t now = now_usec();
        (void) state;

        remember(&m, ":1.1", "org.xfsm1.send-event", &d, now - 4900000);
        assert_true(granted(&m, ":1.1", "org.xfsm1.send-event", &d));
        remember(&m, ":1.2", "org.xfsm1.send-event", &d, now - 5100000);
        assert_false(granted(&m, ":1.2", "org.xfsm1.send-event", &d));
        /* an expired grant makes room when another is remembered */
        remember(&m, ":1.3", "org.xfsm1.send-event", &d, now);
        assert_int_equal(m.n_grants, 2);
        polkit_done(&m);
}

static void test_grants_forgotten_with_the_caller_or_all_at_once(void **state) {
        Manager m = {};
        AccessDetails d = { "C", "M", "E" };
        uint64_t now = now_usec();
        (void) state;

        remember(&m, ":1.10", "org.xfsm1.send-event", &d, now);
        remember(&m, ":1.10", "org.xfsm1.read-context", &d, now);
        remember(&m, ":1.1", "org.xfsm1.send-event", &d, now); /* a prefix of :1.10, not the same caller */
        polkit_forget_caller(&m, ":1.1");
        assert_false(granted(&m, ":1.1", "org.xfsm1.send-event", &d));
        assert_true(granted(&m, ":1.10", "org.xfsm1.send-event", &d));
        assert_true(granted(&m, ":1.10", "org.xfsm1.read-context", &d));
        polkit_forget_all(&m);
        assert_false(granted(&m, ":1.10", "org.xfsm1.send-event", &d));
        assert_int_equal(m.n_grants, 0);
        polkit_done(&m);
}

static void test_process_start_time_is_read_from_proc(void **state) {
        uint64_t a = 0, b = 0;
        (void) state;

        assert_int_equal(process_start_time(getpid(), &a), 0);
        assert_true(a > 0);
        assert_int_equal(process_start_time(getpid(), &b), 0);
        assert_true(a == b);
        assert_true(process_start_time(getppid(), &b) == 0 && b <= a); /* the parent started first */
        assert_true(process_start_time(-1, &b) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_grant_is_keyed_by_caller_action_and_every_detail),
                cmocka_unit_test(test_grant_lasts_at_most_five_seconds),
                cmocka_unit_test(test_grants_forgotten_with_the_caller_or_all_at_once),
                cmocka_unit_test(test_process_start_time_is_read_from_proc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
