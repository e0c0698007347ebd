/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What the bridge reads from Redis Sentinel (daemon/bridge/
 * redis-sentinel-util.c): the answer to SENTINEL get-master-addr-by-name,
 * +switch-master messages, and the order in which the sentinels are asked
 * (the one that answered first, the ones not connected skipped). The
 * replies are built as hiredis gives them; no Redis needed. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis-sentinel-util.h"

static redisReply str(const char *s) {
        return (redisReply) { .type = REDIS_REPLY_STRING, .str = (char *) s, .len = strlen(s) };
}

static int parse_addr(const char *host, const char *port, char **ret_host, uint16_t *ret_port) {
        redisReply h = str(host), p = str(port);
        redisReply *elements[] = { &h, &p };
        redisReply array = { .type = REDIS_REPLY_ARRAY, .elements = 2, .element = elements };

        return sentinel_parse_master_addr(&array, ret_host, ret_port);
}

static void test_master_addr_answer(void **state) {
        char *host = NULL;
        uint16_t port = 0;

        assert_int_equal(parse_addr("127.0.0.1", "6380", &host, &port), 0);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 6380);
        free(host);

        assert_int_equal(parse_addr("::1", "65535", &host, &port), 0);
        assert_string_equal(host, "::1");
        assert_int_equal(port, 65535);
        free(host);

        assert_int_equal(parse_addr("redis-1.example.org", "1", &host, &port), 0);
        assert_string_equal(host, "redis-1.example.org");
        free(host);
}

/* nil: the sentinel does not know the master; an error reply; anything else
 * is not an answer, and nothing is written */
static void test_master_addr_refused(void **state) {
        redisReply nil = { .type = REDIS_REPLY_NIL }, err = { .type = REDIS_REPLY_ERROR, .str = (char *) "ERR x" };
        redisReply integer = { .type = REDIS_REPLY_INTEGER, .integer = 1 };
        redisReply one = str("127.0.0.1");
        redisReply *elements[] = { &one };
        redisReply short_array = { .type = REDIS_REPLY_ARRAY, .elements = 1, .element = elements };
        char *host = NULL;
        uint16_t port = 7;

        assert_int_equal(sentinel_parse_master_addr(&nil, &host, &port), -ENOENT);
        assert_int_equal(sentinel_parse_master_addr(&err, &host, &port), -EIO);
        assert_int_equal(sentinel_parse_master_addr(&integer, &host, &port), -EBADMSG);
        assert_int_equal(sentinel_parse_master_addr(&short_array, &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("127.0.0.1", "0", &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("127.0.0.1", "65536", &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("127.0.0.1", "63a", &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("127.0.0.1", "", &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("", "6379", &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("a b", "6379", &host, &port), -EBADMSG);
        assert_int_equal(parse_addr("[::1]", "6379", &host, &port), -EBADMSG);
        assert_null(host);
        assert_int_equal(port, 7);
}

static int parse_switch(const char *msg, const char *master, char **host, uint16_t *port) {
        return sentinel_parse_switch_master(msg, strlen(msg), master, host, port);
}

static void test_switch_master(void **state) {
        char *host = NULL;
        uint16_t port = 0;

        assert_int_equal(parse_switch("main 127.0.0.1 6380 127.0.0.1 6381", "main", &host, &port), 1);
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 6381);
        free(host);
        host = NULL;

        /* another master's switch: not ours, nothing written */
        port = 9;
        assert_int_equal(parse_switch("other 127.0.0.1 6380 127.0.0.1 6381", "main", &host, &port), 0);
        assert_int_equal(parse_switch("mainx 127.0.0.1 6380 127.0.0.1 6381", "main", &host, &port), 0);
        assert_int_equal(parse_switch("mai 127.0.0.1 6380 127.0.0.1 6381", "main", &host, &port), 0);
        assert_null(host);
        assert_int_equal(port, 9);

        /* cannot be read */
        assert_int_equal(parse_switch("main 127.0.0.1 6380 127.0.0.1", "main", &host, &port), -EBADMSG);
        assert_int_equal(parse_switch("main 127.0.0.1 6380 127.0.0.1 6381 x", "main", &host, &port), -EBADMSG);
        assert_int_equal(parse_switch("main 127.0.0.1 6380  127.0.0.1 6381", "main", &host, &port), -EBADMSG);
        assert_int_equal(parse_switch("main 127.0.0.1 6380 127.0.0.1 0", "main", &host, &port), -EBADMSG);
        assert_int_equal(parse_switch("main 127.0.0.1 x 127.0.0.1 6381", "main", &host, &port), -EBADMSG);
        assert_int_equal(parse_switch("main 127.0.0.1 6380 127.0.0.1 6381 ", "main", &host, &port), -EBADMSG);
        assert_int_equal(parse_switch("", "main", &host, &port), -EBADMSG);
        assert_null(host);
}

/* The sentinel that answered is asked first next time; the others keep
 * their order. */
static void test_prefer_moves_the_one_that_answered_first(void **state) {
        size_t order[] = { 0, 1, 2, 3 };

        sentinel_prefer(order, 4, 2);
        assert_int_equal(order[0], 2);
        assert_int_equal(order[1], 0);
        assert_int_equal(order[2], 1);
        assert_int_equal(order[3], 3);

        sentinel_prefer(order, 4, 0); /* first already */
        assert_int_equal(order[0], 2);
        assert_int_equal(order[1], 0);

        sentinel_prefer(order, 4, 3);
        assert_int_equal(order[0], 3);
        assert_int_equal(order[1], 2);
        assert_int_equal(order[2], 0);
        assert_int_equal(order[3], 1);

        sentinel_prefer(order, 4, 4); /* out of range: nothing */
        assert_int_equal(order[0], 3);
}

/* Asked in turn, in the order of preference, skipping those not connected;
 * n when none is left. */
static void test_next_skips_sentinels_not_connected(void **state) {
        size_t order[] = { 2, 0, 1 };
        bool up[] = { true, false, false };

        assert_int_equal(sentinel_next(order, 3, 0, up), 1); /* sentinel 2 down: sentinel 0 */
        assert_int_equal(sentinel_next(order, 3, 2, up), 3); /* after it, nobody */
        up[2] = true;
        assert_int_equal(sentinel_next(order, 3, 0, up), 0);
        assert_int_equal(sentinel_next(order, 3, 1, up), 1);
        up[0] = up[2] = false;
        assert_int_equal(sentinel_next(order, 3, 0, up), 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_master_addr_answer),
                cmocka_unit_test(test_master_addr_refused),
                cmocka_unit_test(test_switch_master),
                cmocka_unit_test(test_prefer_moves_the_one_that_answered_first),
                cmocka_unit_test(test_next_skips_sentinels_not_connected),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
