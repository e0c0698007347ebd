/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The outbox (daemon/outbox.c), alone, on a real sd-event loop, with a
 * transport that records what it is asked to deliver and answers when the
 * test says: order per target, targets independent of each other, nothing
 * before its record is durable, back-off after a failure, acknowledgements,
 * and the record forms round trip. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outbox.h"

#define INC "0123456789abcdef0123456789abcdef"

typedef struct Transport {
        char sent[64][64]; /* "TARGET:seq" in the order deliveries started */
        size_t n_sent;
        char acked[64][64];
        size_t n_acked;
        int fail_next; /* the next send fails at once */
        size_t last_batch; /* entries in the last delivery started */
} Transport;

static int t_send(void *userdata, const OutEntry *const *entries, size_t n) {
        Transport *t = userdata;

        if (t->fail_next) {
                t->fail_next = 0;
                return -ECONNREFUSED;
        }
        t->last_batch = n;
        for (size_t k = 0; k < n && t->n_sent < 64; k++)
                snprintf(t->sent[t->n_sent++], 64, "%s:%llu", entries[k]->target, (unsigned long long) entries[k]->seq);
        return 0;
}

static void t_acked(void *userdata, const OutEntry *e) {
        Transport *t = userdata;
        snprintf(t->acked[t->n_acked++], 64, "%s:%llu", e->target, (unsigned long long) e->seq);
}

static const OutboxOps ops = { .send = t_send, .acked = t_acked };

typedef struct Fixture {
        sd_event *event;
        Outbox *o;
        Transport t;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(outbox_new(&f->o, f->event, &ops, &f->t), 0);
        outbox_set_enabled(f->o, true);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        outbox_free(f->o);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static void add(Outbox *o, const char *target, uint64_t seq, bool durable) {
        RouteId id = { "Order", INC, seq, 0 };
        char json[128];

        snprintf(json, sizeof json, "{\"v\":1,\"targetComponent\":\"%s\",\"sourceSeq\":%llu}", target,
                 (unsigned long long) seq);
        assert_int_equal(outbox_add(o, target, &id, json, durable), 0);
}

/* Run the loop for about ms milliseconds. */
static void run_for(sd_event *e, unsigned ms) {
        uint64_t now, end;

        assert_true(sd_event_now(e, CLOCK_MONOTONIC, &now) >= 0);
        end = now + ms * 1000ULL;
        while (now < end) {
                assert_true(sd_event_run(e, end - now) >= 0);
                assert_true(sd_event_now(e, CLOCK_MONOTONIC, &now) >= 0);
        }
}

/* One delivery in flight per target, the oldest first; the next of a target
 * only once the previous was taken; targets do not wait for each other. */
static void test_queues_per_target_in_order_and_independent(void **state) {
        Fixture *f = *state;

        add(f->o, "Payment", 1, true);
        add(f->o, "Payment", 2, true);
        add(f->o, "Shipping", 3, true);
        assert_int_equal(f->t.n_sent, 2);
        assert_string_equal(f->t.sent[0], "Payment:1");
        assert_string_equal(f->t.sent[1], "Shipping:3"); /* not behind Payment's */
        assert_true(outbox_inflight(f->o, "Payment"));
        assert_int_equal(outbox_pending(f->o, NULL), 3);

        outbox_delivered(f->o, "Shipping", 1, 0, NULL);
        assert_int_equal(f->t.n_acked, 1);
        assert_string_equal(f->t.acked[0], "Shipping:3");
        assert_int_equal(f->t.n_sent, 2); /* Payment:2 still waits for Payment:1 */

        outbox_delivered(f->o, "Payment", 1, 0, NULL);
        assert_int_equal(f->t.n_sent, 3);
        assert_string_equal(f->t.sent[2], "Payment:2");
        outbox_delivered(f->o, "Payment", 1, 0, NULL);
        assert_int_equal(f->t.n_acked, 3);
        assert_string_equal(f->t.acked[1], "Payment:1");
        assert_string_equal(f->t.acked[2], "Payment:2");
        assert_int_equal(outbox_pending(f->o, NULL), 0);
        assert_int_equal(outbox_pending(f->o, "Payment"), 0);
}

/* A target that fails is retried after a back-off with the same entry;
 * meanwhile another target's events flow. */
static void test_failed_target_retries_and_never_holds_up_another(void **state) {
        Fixture *f = *state;

        add(f->o, "Payment", 1, true);
        add(f->o, "Payment", 2, true);
        outbox_delivered(f->o, "Payment", 0, -EHOSTDOWN, "down");
        assert_int_equal(f->t.n_sent, 1);
        assert_false(outbox_inflight(f->o, "Payment"));

        add(f->o, "Shipping", 3, true);
        assert_int_equal(f->t.n_sent, 2);
        assert_string_equal(f->t.sent[1], "Shipping:3");
        outbox_delivered(f->o, "Shipping", 1, 0, NULL);
        add(f->o, "Shipping", 4, true);
        outbox_delivered(f->o, "Shipping", 1, 0, NULL);
        assert_int_equal(f->t.n_acked, 2);

        run_for(f->event, 350); /* the first back-off is 0.2 s */
        assert_int_equal(f->t.n_sent, 5);
        assert_string_equal(f->t.sent[3], "Payment:1"); /* the same entry again first, the next with it */
        assert_string_equal(f->t.sent[4], "Payment:2");
        assert_int_equal(f->t.last_batch, 2);
        outbox_delivered(f->o, "Payment", 2, 0, NULL);
        assert_int_equal(outbox_pending(f->o, NULL), 0);
}

/* A send that cannot even start backs off the same way. */
static void test_send_that_cannot_start_is_retried(void **state) {
        Fixture *f = *state;

        f->t.fail_next = 1;
        add(f->o, "Payment", 1, true);
        assert_int_equal(f->t.n_sent, 0);
        run_for(f->event, 350);
        assert_int_equal(f->t.n_sent, 1);
        assert_string_equal(f->t.sent[0], "Payment:1");
}

/* Nothing leaves before its record is durable, nor before the outbox is
 * enabled (a daemon on a bus). */
static void test_nothing_leaves_before_durable_or_enabled(void **state) {
        Fixture *f = *state;

        add(f->o, "Payment", 1, false);
        assert_int_equal(f->t.n_sent, 0);
        outbox_set_enabled(f->o, false);
        outbox_durable(f->o);
        assert_int_equal(f->t.n_sent, 0);
        outbox_set_enabled(f->o, true);
        assert_int_equal(f->t.n_sent, 1);
        assert_string_equal(f->t.sent[0], "Payment:1");
}

static json_object *snapshot_list(Outbox *o) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        json_object *v;

        outbox_write_all(o, "Order", f);
        fclose(f);
        v = json_tokener_parse(buf);
        assert_non_null(v);
        free(buf);
        return v;
}

/* What a snapshot holds comes back in the same order; an entry read twice
 * (a snapshot and a record of an older journal) comes back once; an
 * acknowledgement removes its entry. */
static void test_record_forms_round_trip(void **state) {
        Fixture *f = *state;
        Outbox *o2 = NULL;
        Transport t2 = {};
        json_object *list, *acks;
        char *buf = NULL;
        size_t len = 0;
        FILE *mf;

        outbox_set_enabled(f->o, false);
        add(f->o, "Payment", 1, true);
        add(f->o, "Payment", 2, true);
        add(f->o, "Shipping", 3, true);
        list = snapshot_list(f->o);
        assert_int_equal(json_object_array_length(list), 3);

        assert_int_equal(outbox_new(&o2, f->event, &ops, &t2), 0);
        assert_int_equal(outbox_read_entries(o2, list), 0);
        assert_int_equal(outbox_read_entries(o2, list), 0);
        assert_int_equal(outbox_pending(o2, NULL), 3);
        assert_int_equal(outbox_head(o2, "Payment")->seq, 1);
        assert_string_equal(outbox_head(o2, "Payment")->incarnation, INC);
        assert_non_null(strstr(outbox_head(o2, "Payment")->json, "\"sourceSeq\":1"));

        mf = open_memstream(&buf, &len);
        fputc('[', mf);
        outbox_write_ack(mf, outbox_head(o2, "Payment"));
        fputc(']', mf);
        fclose(mf);
        acks = json_tokener_parse(buf);
        free(buf);
        assert_non_null(acks);
        assert_int_equal(outbox_read_acks(o2, acks), 0);
        assert_int_equal(outbox_pending(o2, "Payment"), 1);
        assert_int_equal(outbox_head(o2, "Payment")->seq, 2);

        /* restored entries are durable: they go once enabled */
        outbox_set_enabled(o2, true);
        assert_int_equal(t2.n_sent, 2);

        json_object_put(list);
        json_object_put(acks);
        outbox_free(o2);
}

/* What piled up for one target while a delivery was out goes together, in
 * order; the target takes a prefix; the rest goes again at once (something
 * was taken), or after a back-off when nothing was. */
static void test_batches_in_order_and_a_prefix_taken(void **state) {
        Fixture *f = *state;

        outbox_set_enabled(f->o, false);
        for (uint64_t k = 1; k <= 5; k++)
                add(f->o, "Payment", k, true);
        outbox_set_enabled(f->o, true);
        assert_int_equal(f->t.last_batch, 5);
        assert_int_equal(f->t.n_sent, 5);
        assert_string_equal(f->t.sent[0], "Payment:1");
        assert_string_equal(f->t.sent[4], "Payment:5");

        outbox_delivered(f->o, "Payment", 3, 0, NULL); /* 1..3 taken */
        assert_int_equal(f->t.n_acked, 3);
        assert_string_equal(f->t.acked[2], "Payment:3");
        assert_int_equal(f->t.last_batch, 2); /* 4 and 5 again, at once */
        assert_string_equal(f->t.sent[5], "Payment:4");

        outbox_delivered(f->o, "Payment", 0, 0, "busy"); /* none taken: a back-off */
        assert_int_equal(f->t.n_sent, 7);
        assert_false(outbox_inflight(f->o, "Payment"));
        run_for(f->event, 350);
        assert_int_equal(f->t.n_sent, 9);
        assert_string_equal(f->t.sent[7], "Payment:4");
        outbox_delivered(f->o, "Payment", 2, 0, NULL);
        assert_int_equal(outbox_pending(f->o, NULL), 0);
        assert_int_equal(f->t.n_acked, 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_queues_per_target_in_order_and_independent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_target_retries_and_never_holds_up_another, setup, teardown),
                cmocka_unit_test_setup_teardown(test_send_that_cannot_start_is_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nothing_leaves_before_durable_or_enabled, setup, teardown),
                cmocka_unit_test_setup_teardown(test_record_forms_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batches_in_order_and_a_prefix_taken, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
