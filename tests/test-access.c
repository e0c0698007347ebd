/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Access control without a bus (xfsmd(8), ACCESS CONTROL): the grant cache
 * of polkit.c, keyed by caller, action and details, at most 5 s, a caller's
 * grants forgotten with its name, all of them when polkit's rules change;
 * the process start time polkit is given for peers; the denial log, once
 * per (uid, action) per 10 s; an Access made and freed. The bus objects
 * here are never connected. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "access.h"
#include "macro.h"
#include "polkit.h"

#define SEC 1000000ULL
/* an arbitrary CLOCK_MONOTONIC time: the functions tested take the clock as an argument */
#define T0 (1000 * SEC)

typedef struct Fixture {
        sd_event *event;
        sd_bus *bus;
        Polkit *polkit;
} Fixture;

static void on_answer(PolkitQuery *q, Verdict v, void *userdata) {
        fail_msg("no question is asked here");
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(sd_bus_new(&f->bus), 0);
        assert_int_equal(polkit_new(&f->polkit, f->event, f->bus, on_answer, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        assert_null(polkit_free(f->polkit));
        sd_bus_unref(f->bus);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static void remember(Polkit *p, const char *caller, const char *action, const AccessDetails *d, uint64_t at) {
        _cleanup_(freep) char *key = polkit_key(caller, action, d);

        assert_non_null(key);
        assert_int_equal(polkit_remember(p, key, at), 0);
}

static bool granted(Polkit *p, const char *caller, const char *action, const AccessDetails *d, uint64_t now) {
        _cleanup_(freep) char *key = polkit_key(caller, action, d);

        assert_non_null(key);
        return polkit_granted(p, key, now);
}

/* ---- the grant cache ------------------------------------------------------------------------ */

static void test_grant_is_keyed_by_caller_action_and_every_detail(void **state) {
        Fixture *f = *state;
        AccessDetails d = { "OrderComponent", "Order", "VALIDATE" };
        const char *send = "org.xfsm1.send-event";

        remember(f->polkit, ":1.5", send, &d, T0);
        assert_true(granted(f->polkit, ":1.5", send, &d, T0));

        assert_false(granted(f->polkit, ":1.6", send, &d, T0));
        assert_false(granted(f->polkit, ":1.5", "org.xfsm1.create-instance", &d, T0));
        assert_false(granted(f->polkit, ":1.5", send, &(AccessDetails) { "PaymentComponent", "Order", "VALIDATE" }, T0));
        assert_false(granted(f->polkit, ":1.5", send, &(AccessDetails) { "OrderComponent", "Other", "VALIDATE" }, T0));
        assert_false(granted(f->polkit, ":1.5", send, &(AccessDetails) { "OrderComponent", "Order", "COMPLETE" }, T0));

        /* a question without the event is another question */
        assert_false(granted(f->polkit, ":1.5", send, &(AccessDetails) { "OrderComponent", "Order", NULL }, T0));
        assert_false(granted(f->polkit, ":1.5", send, NULL, T0));
}

static void test_grant_lasts_five_seconds_and_is_renewed_when_given_again(void **state) {
        Fixture *f = *state;
        AccessDetails d = { "C", "M", "E" };

        remember(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0);
        assert_true(granted(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0 + 4900000));
        assert_false(granted(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0 + 5 * SEC));

        /* given again: 5 s from then */
        remember(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0 + 4 * SEC);
        assert_true(granted(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0 + 8 * SEC));
        assert_false(granted(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0 + 9 * SEC));
        assert_int_equal(polkit_n_grants(f->polkit), 1);
}

static void test_expired_grant_makes_room_when_another_is_remembered(void **state) {
        Fixture *f = *state;
        AccessDetails d = { "C", "M", "E" };

        remember(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0);
        remember(f->polkit, ":1.2", "org.xfsm1.send-event", &d, T0 + 2 * SEC);
        assert_int_equal(polkit_n_grants(f->polkit), 2);

        /* at T0 + 6 s the first has expired, the second not */
        remember(f->polkit, ":1.3", "org.xfsm1.send-event", &d, T0 + 6 * SEC);
        assert_int_equal(polkit_n_grants(f->polkit), 2);
        assert_false(granted(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0 + 6 * SEC));
        assert_true(granted(f->polkit, ":1.2", "org.xfsm1.send-event", &d, T0 + 6 * SEC));
        assert_true(granted(f->polkit, ":1.3", "org.xfsm1.send-event", &d, T0 + 6 * SEC));
}

static void test_grants_forgotten_with_the_caller_or_all_at_once(void **state) {
        Fixture *f = *state;
        AccessDetails d = { "C", "M", "E" };

        remember(f->polkit, ":1.10", "org.xfsm1.send-event", &d, T0);
        remember(f->polkit, ":1.10", "org.xfsm1.read-context", &d, T0);
        remember(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0); /* a prefix of :1.10, not the same caller */

        polkit_forget_caller(f->polkit, ":1.1");
        assert_false(granted(f->polkit, ":1.1", "org.xfsm1.send-event", &d, T0));
        assert_true(granted(f->polkit, ":1.10", "org.xfsm1.send-event", &d, T0));
        assert_true(granted(f->polkit, ":1.10", "org.xfsm1.read-context", &d, T0));

        polkit_forget_all(f->polkit);
        assert_false(granted(f->polkit, ":1.10", "org.xfsm1.send-event", &d, T0));
        assert_int_equal(polkit_n_grants(f->polkit), 0);
}

static void test_process_start_time_is_read_from_proc(void **state) {
        uint64_t a = 0, b = 0;

        assert_int_equal(process_start_time(getpid(), &a), 0);
        assert_true(a > 0);
        assert_int_equal(process_start_time(getpid(), &b), 0);
        assert_true(a == b);
        assert_true(process_start_time(getppid(), &b) == 0 && b <= a); /* the parent started first */
        assert_true(process_start_time(-1, &b) < 0);
}

/* ---- the denial log ---------------------------------------------------------------------- */

static void test_denial_logged_once_per_uid_and_action_every_ten_seconds(void **state) {
        DenialLog l = {};

        assert_true(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0));
        assert_false(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0 + 1));
        assert_false(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0 + 9999999));
        assert_true(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0 + 10 * SEC));

        /* the 10 s count from the last denial logged, not from the first */
        assert_false(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0 + 19 * SEC));
        assert_true(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0 + 20 * SEC));
}

static void test_denials_of_another_uid_or_action_are_logged_apart(void **state) {
        DenialLog l = {};

        assert_true(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0));
        assert_true(denial_log_admit(&l, 1001, "org.xfsm1.send-event", T0 + 1));
        assert_true(denial_log_admit(&l, 1000, "org.xfsm1.create-instance", T0 + 2));
        assert_true(denial_log_admit(&l, 1000, "org.xfsm1.internal", T0 + 3));

        assert_false(denial_log_admit(&l, 1000, "org.xfsm1.send-event", T0 + 5 * SEC));
        assert_false(denial_log_admit(&l, 1001, "org.xfsm1.send-event", T0 + 5 * SEC));
        assert_false(denial_log_admit(&l, 1000, "org.xfsm1.create-instance", T0 + 5 * SEC));
        assert_false(denial_log_admit(&l, 1000, "org.xfsm1.internal", T0 + 5 * SEC));

        /* the action is compared by its text, not its address */
        char copy[] = "org.xfsm1.send-event";
        assert_false(denial_log_admit(&l, 1000, copy, T0 + 5 * SEC));
}

static void test_full_denial_log_forgets_the_oldest(void **state) {
        DenialLog l = {};
        size_t n = ELEMENTSOF(l.slots);

        /* uids 0..n-1, one per microsecond: uid 0 is the oldest */
        for (size_t k = 0; k < n; k++)
                assert_true(denial_log_admit(&l, (uid_t) k, "org.xfsm1.send-event", T0 + k));
        assert_int_equal(l.n, n);

        /* one more: it is logged, and uid 0 forgotten, so logged again at once */
        assert_true(denial_log_admit(&l, (uid_t) n, "org.xfsm1.send-event", T0 + n));
        assert_int_equal(l.n, n);
        assert_false(denial_log_admit(&l, 1, "org.xfsm1.send-event", T0 + n + 1));
        assert_true(denial_log_admit(&l, 0, "org.xfsm1.send-event", T0 + n + 1));
        /* which forgot uid 1, the oldest then */
        assert_true(denial_log_admit(&l, 1, "org.xfsm1.send-event", T0 + n + 2));
        assert_false(denial_log_admit(&l, (uid_t) n, "org.xfsm1.send-event", T0 + n + 3));
}

/* ---- an Access ---------------------------------------------------------------------------- */

static void test_access_new_is_not_busy_and_frees_on_a_bus_never_connected(void **state) {
        Fixture *f = *state;
        _cleanup_(access_freep) Access *a = NULL;
        _cleanup_(access_freep) Access *peer = NULL;

        assert_int_equal(access_new(&a, f->event, f->bus, false), 0);
        assert_false(access_busy(a));
        access_done(a); /* before any access_setup(), and again by access_free() */

        /* on a peer connection there is nothing to follow */
        assert_int_equal(access_new(&peer, f->event, f->bus, true), 0);
        assert_int_equal(access_setup(peer), 0);
        assert_false(access_busy(peer));

        assert_null(access_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_grant_is_keyed_by_caller_action_and_every_detail, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_grant_lasts_five_seconds_and_is_renewed_when_given_again, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_expired_grant_makes_room_when_another_is_remembered, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_grants_forgotten_with_the_caller_or_all_at_once, setup,
                                                teardown),
                cmocka_unit_test(test_process_start_time_is_read_from_proc),
                cmocka_unit_test(test_denial_logged_once_per_uid_and_action_every_ten_seconds),
                cmocka_unit_test(test_denials_of_another_uid_or_action_are_logged_apart),
                cmocka_unit_test(test_full_denial_log_forgets_the_oldest),
                cmocka_unit_test_setup_teardown(test_access_new_is_not_busy_and_frees_on_a_bus_never_connected,
                                                setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
