/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The bridge's redis:// and redis-sentinel:// addresses
 * (daemon/bridge/redis-url.c): what parses and into what, what is refused
 * and with which sentence, and which hosts count as loopback for Insecure=.
 * No Redis needed. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redis-url.h"

static void parse_ok(const char *url, const char *host, uint16_t port, unsigned db, const char *user,
                     const char *password) {
        RedisTarget t = {};
        const char *why = NULL;

        print_message("%s\n", url);
        assert_int_equal(redis_url_parse(url, &t, &why), 0);
        assert_string_equal(t.host, host);
        assert_int_equal(t.port, port);
        assert_int_equal(t.db, db);
        if (user)
                assert_string_equal(t.user, user);
        else
                assert_null(t.user);
        if (password)
                assert_string_equal(t.password, password);
        else
                assert_null(t.password);
        redis_target_done(&t);
        assert_null(t.host);
}

/* refused with a sentence that contains what */
static void parse_bad(const char *url, const char *what) {
        RedisTarget t = {};
        const char *why = NULL;

        assert_int_equal(redis_url_parse(url, &t, &why), -EINVAL);
        assert_non_null(why);
        print_message("%s: %s\n", url, why);
        if (!strstr(why, what))
                fail_msg("%s: expected \"%s\" in \"%s\"", url, what, why);
        assert_null(t.host);
        assert_null(t.password);
}

static void test_url_host_port_db(void **state) {
        parse_ok("redis://127.0.0.1:6380", "127.0.0.1", 6380, 0, NULL, NULL);
        parse_ok("redis://127.0.0.1:6380/", "127.0.0.1", 6380, 0, NULL, NULL);
        parse_ok("redis://127.0.0.1:6380/3", "127.0.0.1", 6380, 3, NULL, NULL);
        parse_ok("REDIS://redis.example.org:1/15", "redis.example.org", 1, 15, NULL, NULL);
        parse_ok("redis://localhost", "localhost", 6379, 0, NULL, NULL);
        parse_ok("redis://localhost/2", "localhost", 6379, 2, NULL, NULL);
        parse_ok("redis://redis-1.internal.:65535", "redis-1.internal.", 65535, 0, NULL, NULL);
}

static void test_url_ipv6_in_brackets(void **state) {
        parse_ok("redis://[::1]:6379", "::1", 6379, 0, NULL, NULL);
        parse_ok("redis://[::1]", "::1", 6379, 0, NULL, NULL);
        parse_ok("redis://[2001:db8::7]:7000/4", "2001:db8::7", 7000, 4, NULL, NULL);
        parse_ok("redis://[::ffff:127.0.0.1]:6379", "::ffff:127.0.0.1", 6379, 0, NULL, NULL);
        parse_bad("redis://::1:6379", "IPv6 address goes in brackets");
        parse_bad("redis://2001:db8::1", "IPv6 address goes in brackets");
        parse_bad("redis://[::1:6379", "closing ']'");
        parse_bad("redis://[]:6379", "not an IPv6 address");
        parse_bad("redis://[fe80::1%25eth0]:6379", "not an IPv6 address");
        parse_bad("redis://[example.org]:6379", "not an IPv6 address");
        parse_bad("redis://[::1]x:6379", "after the IPv6 address");
}

static void test_url_user_and_password(void **state) {
        parse_ok("redis://bridge:s3cret@127.0.0.1:6379/1", "127.0.0.1", 6379, 1, "bridge", "s3cret");
        parse_ok("redis://:s3cret@localhost:6379", "localhost", 6379, 0, NULL, "s3cret");
        /* ':' in a password, '@' split at the last one, percent escapes */
        parse_ok("redis://u:a:b@c@[::1]:6379", "::1", 6379, 0, "u", "a:b@c");
        parse_ok("redis://us%65r:p%40ss%2Fw%3a@127.0.0.1:6379", "127.0.0.1", 6379, 0, "user", "p@ss/w:");
        parse_bad("redis://bridge@127.0.0.1:6379", "without a password");
        parse_bad("redis://bridge:@127.0.0.1:6379", "empty password");
        parse_bad("redis://:@127.0.0.1:6379", "empty password");
        parse_bad("redis://u:p%4@127.0.0.1:6379", "bad password");
        parse_bad("redis://u:p%00x@127.0.0.1:6379", "bad password");
        parse_bad("redis://u%zz:p@127.0.0.1:6379", "bad user name");
        parse_bad("redis://u:p\tq@127.0.0.1:6379", "bad password");
}

static void test_url_refused(void **state) {
        parse_bad("", "not a redis:// URL");
        parse_bad("127.0.0.1:6379", "not a redis:// URL");
        parse_bad("http://127.0.0.1:6379", "not a redis:// URL");
        parse_bad("redis-sentinel://127.0.0.1:26379/main", "not a redis:// URL");
        parse_bad("rediss://127.0.0.1:6379", "TLS");
        parse_bad("redis://", "no host");
        parse_bad("redis://:6379", "no host");
        parse_bad("redis:///0", "no host");
        parse_bad("redis://127.0.0.1:", "empty port");
        parse_bad("redis://127.0.0.1:0", "not a port");
        parse_bad("redis://127.0.0.1:65536", "not a port");
        parse_bad("redis://127.0.0.1:-1", "not a port");
        parse_bad("redis://127.0.0.1:12ab", "not a port");
        parse_bad("redis://127.0.0.1:99999999999", "not a port");
        parse_bad("redis://127.0.0.1:6379/x", "not a database number");
        parse_bad("redis://127.0.0.1:6379/-1", "not a database number");
        parse_bad("redis://127.0.0.1:6379/99999999999", "not a database number");
        parse_bad("redis://127.0.0.1:6379/0?timeout=1", "query parameters");
        parse_bad("redis://127.0.0.1:6379/0#x", "after the address");
        parse_bad("redis://127.0.0.1:6379/0/1", "not a database number");
        parse_bad("redis://256.0.0.1:6379", "not an IPv4 address");
        parse_bad("redis://127.1:6379", "not an IPv4 address");
        parse_bad("redis://exa mple:6379", "not a host name");
        parse_bad("redis://a..b:6379", "not a host name");
        parse_bad("redis://host%41:6379", "not a host name");
}

static void test_target_copy(void **state) {
        RedisTarget t = {}, u = {};

        assert_int_equal(redis_url_parse("redis://a:b@[::1]:7/9", &t, NULL), 0);
        assert_int_equal(redis_target_copy(&u, &t), 0);
        redis_target_done(&t);
        assert_string_equal(u.host, "::1");
        assert_string_equal(u.user, "a");
        assert_string_equal(u.password, "b");
        assert_int_equal(u.port, 7);
        assert_int_equal(u.db, 9);
        redis_target_done(&u);
        redis_target_done(&u); /* twice is harmless */
}

/* The sentinels in the order given, each with its port (26379 when absent),
 * the master name, and the data nodes' user and password. */
static void test_sentinel_url_sentinels_and_master(void **state) {
        RedisSentinelUrl u = {};
        const char *why = NULL;

        assert_int_equal(redis_sentinel_url_parse("redis-sentinel://127.0.0.1:26380,[::1],s3.example.org:7/main-1",
                                                  &u, &why),
                         0);
        assert_int_equal(u.n_sentinels, 3);
        assert_string_equal(u.sentinels[0].host, "127.0.0.1");
        assert_int_equal(u.sentinels[0].port, 26380);
        assert_string_equal(u.sentinels[1].host, "::1");
        assert_int_equal(u.sentinels[1].port, REDIS_SENTINEL_DEFAULT_PORT);
        assert_string_equal(u.sentinels[2].host, "s3.example.org");
        assert_int_equal(u.sentinels[2].port, 7);
        assert_string_equal(u.master, "main-1");
        assert_null(u.user);
        assert_null(u.password);
        for (size_t i = 0; i < u.n_sentinels; i++) {
                assert_null(u.sentinels[i].user);
                assert_null(u.sentinels[i].password);
                assert_int_equal(u.sentinels[i].db, 0);
        }
        redis_sentinel_url_done(&u);
        assert_null(u.sentinels);
        assert_null(u.master);

        assert_int_equal(redis_sentinel_url_parse("redis-sentinel://bridge:p%40ss@localhost/mymaster", &u, &why), 0);
        assert_int_equal(u.n_sentinels, 1);
        assert_string_equal(u.sentinels[0].host, "localhost");
        assert_int_equal(u.sentinels[0].port, 26379);
        assert_string_equal(u.master, "mymaster");
        assert_string_equal(u.user, "bridge");
        assert_string_equal(u.password, "p@ss");
        redis_sentinel_url_done(&u);

        assert_int_equal(redis_sentinel_url_parse("redis-sentinel://:secret@h1:1,h2:2/m", &u, &why), 0);
        assert_null(u.user);
        assert_string_equal(u.password, "secret");
        assert_int_equal(u.n_sentinels, 2);
        redis_sentinel_url_done(&u);
}

static void sentinel_bad(const char *url, const char *what) {
        RedisSentinelUrl u = {};
        const char *why = NULL;

        assert_int_equal(redis_sentinel_url_parse(url, &u, &why), -EINVAL);
        assert_non_null(why);
        print_message("%s: %s\n", url, why);
        if (!strstr(why, what))
                fail_msg("%s: expected \"%s\" in \"%s\"", url, what, why);
        assert_null(u.sentinels);
        assert_null(u.master);
        assert_null(u.password);
}

static void test_sentinel_url_refused(void **state) {
        char many[1024] = "redis-sentinel://";

        sentinel_bad("redis://127.0.0.1:26379/main", "not a redis-sentinel:// URL");
        sentinel_bad("redis-sentinel://127.0.0.1:26379", "no /MASTERNAME");
        sentinel_bad("redis-sentinel://127.0.0.1:26379/", "not a master name");
        sentinel_bad("redis-sentinel://127.0.0.1:26379/a b", "not a master name");
        sentinel_bad("redis-sentinel://127.0.0.1:26379/m/x", "a '/' among the sentinels");
        sentinel_bad("redis-sentinel:///main", "no sentinel address");
        sentinel_bad("redis-sentinel://a:1,,b:2/main", "an empty sentinel address");
        sentinel_bad("redis-sentinel://a:1,/main", "an empty sentinel address");
        sentinel_bad("redis-sentinel://a:0/main", "not a port");
        sentinel_bad("redis-sentinel://a:1,::1/main", "more than one ':'");
        sentinel_bad("redis-sentinel://a:1,[::1/main", "closing ']'");
        sentinel_bad("redis-sentinel://user@a:1/main", "without a password");
        sentinel_bad("redis-sentinel://a:1,b!:2/main", "not a host name");
        for (int i = 0; i < 17; i++)
                strcat(many, i == 0 ? "h:1" : ",h:1");
        strcat(many, "/main");
        sentinel_bad(many, "more than 16 sentinels");
}

static void test_loopback(void **state) {
        static const char *const yes[] = { "localhost", "LocalHost", "localhost.", "127.0.0.1", "127.255.3.4", "::1",
                                           "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1" };
        static const char *const no[] = { "10.0.0.1", "128.0.0.1", "0.0.0.0", "::", "::2", "::ffff:10.0.0.1",
                                          "2001:db8::1", "localhost.example.org", "mylocalhost", "redis",
                                          "127.0.0.1.example.org", "" };

        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
                if (!redis_host_is_loopback(yes[i]))
                        fail_msg("%s should be loopback", yes[i]);
        for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
                if (redis_host_is_loopback(no[i]))
                        fail_msg("%s should not be loopback", no[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_url_host_port_db),
                cmocka_unit_test(test_url_ipv6_in_brackets),
                cmocka_unit_test(test_url_user_and_password),
                cmocka_unit_test(test_url_refused),
                cmocka_unit_test(test_target_copy),
                cmocka_unit_test(test_sentinel_url_sentinels_and_master),
                cmocka_unit_test(test_sentinel_url_refused),
                cmocka_unit_test(test_loopback),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
