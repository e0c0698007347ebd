/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The bridge's settings (daemon/bridge/bridge-config.c), alone: the
 * defaults, every key of bridge.conf, the command line over the file, and
 * the FILE:LINE message of each bad value and unknown key. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge-config.h"
#include "capture.h"
#include "macro.h"

static char dir[] = "/tmp/test-bridge-config-XXXXXX";

static int setup(void **state) {
        unsetenv("JOURNAL_STREAM");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[256];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* A bridge.conf holding text; its path, in a static buffer. */
static const char *write_conf(const char *name, const char *text) {
        static char path[512];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return path;
}

/* The effective settings from a command line (argv without argv[0]);
 * returns what bridge_config_load() returned, what was logged in *ret_log. */
static int load(BridgeConfig *c, char **ret_log, int argc, const char *const *args) {
        char *argv[16] = { (char *) "xfsm-redis-bridge" };
        BridgeOptions o;
        Capture cap;
        char *text;
        int r;

        assert_true(argc < (int) ELEMENTSOF(argv));
        for (int i = 0; i < argc; i++)
                argv[i + 1] = (char *) args[i];

        capture_start(&cap);
        r = bridge_options_parse(&o, argc + 1, argv);
        if (r >= 0)
                r = bridge_config_load(c, &o);
        text = capture_end(&cap);

        if (ret_log)
                *ret_log = text;
        else
                free(text);
        return r;
}

static int load_file(BridgeConfig *c, char **ret_log, const char *path) {
        const char *args[] = { "--config", path };
        return load(c, ret_log, 2, args);
}

/* Without a file, the documented defaults, and the host name as node. */
static void test_defaults_without_a_file(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c;
        char host[256] = "";

        bridge_config_init(&c);
        assert_int_equal(bridge_config_read(&c, "/nonexistent/bridge.conf", false), 0);
        assert_int_equal(bridge_config_apply(&c, &(BridgeOptions) {}), 0);

        assert_int_equal(gethostname(host, sizeof host - 1), 0);
        assert_string_equal(c.node, host);
        assert_int_equal(c.bus, BRIDGE_BUS_SYSTEM);
        assert_null(c.bus_address);
        assert_string_equal(c.redis_url, BRIDGE_REDIS_DEFAULT);
        assert_int_equal(c.redis_kind, BRIDGE_REDIS_DIRECT);
        assert_int_equal(c.min_replicas, 0);
        assert_int_equal(c.wait_ms, 1000);
        assert_int_equal(c.inbox_limit, 100000);
        assert_false(c.insecure);
        assert_false(c.xcomponent_compat);
        assert_null(c.xcomponent_components);
}

/* Every key of [Bridge] is read, comments and blanks are skipped. */
static void test_every_key_is_read(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c = {};
        const char *path = write_conf("all.conf", "# the bridge\n"
                                                  "[Bridge]\n"
                                                  "Node = alpha-1.example_x\n"
                                                  "Redis=redis://10.0.0.5:6380/2\n"
                                                  "MinReplicas=2\n"
                                                  "; a comment\n"
                                                  "\n"
                                                  "WaitMs=250\n"
                                                  "InboxLimit=42\n"
                                                  "Insecure=yes\n"
                                                  "XcomponentCompat=true\n"
                                                  "XcomponentComponents=Legacy  Other\n"
                                                  "XcomponentComponents=Third\n");

        assert_int_equal(load_file(&c, NULL, path), 0);
        assert_string_equal(c.node, "alpha-1.example_x");
        assert_string_equal(c.redis_url, "redis://10.0.0.5:6380/2");
        assert_int_equal(c.redis_kind, BRIDGE_REDIS_DIRECT);
        assert_int_equal(c.min_replicas, 2);
        assert_int_equal(c.wait_ms, 250);
        assert_int_equal(c.inbox_limit, 42);
        assert_true(c.insecure);
        assert_true(c.xcomponent_compat);
        assert_non_null(c.xcomponent_components);
        assert_string_equal(c.xcomponent_components[0], "Legacy");
        assert_string_equal(c.xcomponent_components[1], "Other");
        assert_string_equal(c.xcomponent_components[2], "Third");
        assert_null(c.xcomponent_components[3]);
}

/* Booleans take yes/no, true/false, on/off, 1/0; an empty
 * XcomponentComponents= forgets the names before it; the last Node= wins. */
static void test_booleans_lists_and_repeated_keys(void **state) {
        static const char *const yes[] = { "yes", "true", "1", "on", "YES" },
                          *const no[] = { "no", "false", "0", "off", "No" };
        _cleanup_(bridge_config_done) BridgeConfig c = {};
        char text[256];

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                snprintf(text, sizeof text, "[Bridge]\nInsecure=%s\nXcomponentCompat=%s\nNode=n\n", yes[i], no[i]);
                assert_int_equal(load_file(&c, NULL, write_conf("b.conf", text)), 0);
                assert_true(c.insecure);
                assert_false(c.xcomponent_compat);
                bridge_config_done(&c);
        }

        assert_int_equal(load_file(&c, NULL,
                                   write_conf("l.conf", "[Bridge]\nNode=a\nNode=b\nXcomponentComponents=A B\n"
                                                        "XcomponentComponents=\nXcomponentComponents=C\n")),
                         0);
        assert_string_equal(c.node, "b");
        assert_string_equal(c.xcomponent_components[0], "C");
        assert_null(c.xcomponent_components[1]);
}

/* A sentinel URL means MinReplicas=1 unless the file says otherwise. */
static void test_sentinel_url_defaults_to_one_replica(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c = {};

        assert_int_equal(load_file(&c, NULL,
                                   write_conf("s.conf", "[Bridge]\nNode=n\n"
                                                        "Redis=redis-sentinel://s1:26379,s2:26379/mymaster\n")),
                         0);
        assert_int_equal(c.redis_kind, BRIDGE_REDIS_SENTINEL);
        assert_string_equal(c.redis_url, "redis-sentinel://s1:26379,s2:26379/mymaster");
        assert_int_equal(c.min_replicas, 1);
        bridge_config_done(&c);

        assert_int_equal(load_file(&c, NULL,
                                   write_conf("s0.conf", "[Bridge]\nNode=n\nMinReplicas=0\n"
                                                         "Redis=redis-sentinel://s1:26379/mymaster\n")),
                         0);
        assert_int_equal(c.min_replicas, 0);
}

/* Options win over the file; what they do not name stays as the file says. */
static void test_options_override_the_file(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c = {};
        const char *path = write_conf("o.conf", "[Bridge]\nNode=filenode\nRedis=redis://127.0.0.1:1\n"
                                                "XcomponentCompat=no\nWaitMs=7\n");
        const char *args[] = { "--config", path, "--node", "clinode", "--redis", "redis-sentinel://h:1/m",
                               "--xcomponent-compat", "--bus-address", "unix:path=/tmp/bus" };

        assert_int_equal(load(&c, NULL, ELEMENTSOF(args), args), 0);
        assert_string_equal(c.node, "clinode");
        assert_string_equal(c.redis_url, "redis-sentinel://h:1/m");
        assert_int_equal(c.redis_kind, BRIDGE_REDIS_SENTINEL);
        assert_int_equal(c.min_replicas, 1); /* the sentinel default follows --redis */
        assert_true(c.xcomponent_compat);
        assert_int_equal(c.bus, BRIDGE_BUS_ADDRESS);
        assert_string_equal(c.bus_address, "unix:path=/tmp/bus");
        assert_int_equal(c.wait_ms, 7);
        bridge_config_done(&c);

        /* the last bus option wins */
        const char *args2[] = { "--config", path, "--bus-address", "unix:path=/x", "--user" };
        assert_int_equal(load(&c, NULL, ELEMENTSOF(args2), args2), 0);
        assert_int_equal(c.bus, BRIDGE_BUS_USER);
        assert_null(c.bus_address);
        assert_string_equal(c.node, "filenode");
}

/* A bad option value, an unknown option, a stray argument, a --config file
 * that is not there: each stops start-up and says why. */
static void test_bad_options_are_refused(void **state) {
        static const struct {
                const char *args[3];
                const char *says;
        } cases[] = {
                { { "--node", "a/b" }, "--node: needs a node name" },
                { { "--node", "" }, "--node: needs a node name" },
                { { "--redis", "http://x:1" }, "--redis: 'http://x:1': a Redis URL starts with redis://" },
                { { "--redis", "redis://" }, "names a host" },
                { { "--frobnicate" }, "frobnicate" },
                { { "stray" }, "Unexpected argument 'stray'" },
                { { "--config", "/nonexistent/bridge.conf" }, "Failed to read /nonexistent/bridge.conf" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                BridgeConfig c = {};
                int argc = 0;
                char *log;

                while (argc < 3 && cases[i].args[argc])
                        argc++;
                assert_true(load(&c, &log, argc, cases[i].args) < 0);
                if (!strstr(log, cases[i].says))
                        fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].says, log);
                free(log);
                assert_null(c.node); /* nothing half-made is left */
        }
}

/* Each bad value is an error naming FILE:LINE, and start-up stops. */
static void test_each_bad_value_is_an_error_at_its_line(void **state) {
        static const struct {
                const char *line;
                const char *says;
        } cases[] = {
                { "Node=has space", "Node= needs a node name" },
                { "Node=a/b", "Node= needs a node name" },
                { "Node=..", "Node= needs a node name" },
                { "Node=", "Node= needs a node name" },
                { "Node=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Node= needs a node name" },
                { "Redis=", "a Redis URL starts with" },
                { "Redis=http://h:1", "a Redis URL starts with redis:// or redis-sentinel://" },
                { "Redis=redis://", "names a host" },
                { "Redis=redis-sentinel://h:1", "ends with /MASTERNAME" },
                { "Redis=redis-sentinel://h:1/", "ends with /MASTERNAME" },
                { "Redis=redis://h :1", "no blanks" },
                { "MinReplicas=-1", "MinReplicas= needs a number from 0 to 100" },
                { "MinReplicas=101", "MinReplicas= needs a number" },
                { "MinReplicas=two", "MinReplicas= needs a number" },
                { "WaitMs=0", "WaitMs= needs a number from 1 to" },
                { "WaitMs=1s", "WaitMs= needs a number" },
                { "InboxLimit=0", "InboxLimit= needs a number from 1 to" },
                { "InboxLimit=99999999999999999999999", "InboxLimit= needs a number" },
                { "Insecure=maybe", "Insecure= needs yes or no, not 'maybe'" },
                { "XcomponentCompat=2", "XcomponentCompat= needs yes or no" },
                { "XcomponentComponents=Good 9bad", "XcomponentComponents= needs component names" },
                { "no equals sign", "expected Key=Value" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(bridge_config_done) BridgeConfig c = {};
                char text[256], expect[600];
                const char *path;
                char *log;

                snprintf(text, sizeof text, "[Bridge]\nNode=ok\n%s\n", cases[i].line);
                path = write_conf("bad.conf", text);
                assert_int_equal(load_file(&c, &log, path), -EINVAL);
                snprintf(expect, sizeof expect, "%s:3: ", path);
                if (!strstr(log, expect) || !strstr(log, cases[i].says))
                        fail_msg("'%s': expected '%s' and '%s' in '%s'", cases[i].line, expect, cases[i].says, log);
                free(log);
        }
}

/* Every bad line of one file is reported, not just the first. */
static void test_all_bad_lines_are_reported(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c = {};
        const char *path = write_conf("bad2.conf", "[Bridge]\nWaitMs=x\nNode=ok\nInsecure=x\n");
        char want[600];
        char *log;

        assert_int_equal(load_file(&c, &log, path), -EINVAL);
        snprintf(want, sizeof want, "%s:2: WaitMs=", path);
        assert_non_null(strstr(log, want));
        snprintf(want, sizeof want, "%s:4: Insecure=", path);
        assert_non_null(strstr(log, want));
        free(log);
}

/* An unknown key or section is a warning with FILE:LINE; start-up goes on. */
static void test_unknown_key_is_a_warning_at_its_line(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c = {};
        const char *path = write_conf("unknown.conf", "[Bridge]\nNode=n\nColour=blue\n[Other]\nWaitMs=5\n");
        char want[600];
        char *log;

        assert_int_equal(load_file(&c, &log, path), 0);
        snprintf(want, sizeof want, "%s:3: unknown key Colour= in [Bridge], ignored", path);
        assert_non_null(strstr(log, want));
        snprintf(want, sizeof want, "%s:4: unknown section [Other], ignored", path);
        assert_non_null(strstr(log, want));
        snprintf(want, sizeof want, "%s:5: unknown key WaitMs= in [Other], ignored", path);
        assert_non_null(strstr(log, want));
        assert_int_equal(c.wait_ms, 1000); /* not taken from another section */
        free(log);
}

/* The printed settings read back as the same settings. */
static void test_dump_reads_back_the_same(void **state) {
        _cleanup_(bridge_config_done) BridgeConfig c = {}, d = {};
        const char *path = write_conf("d.conf", "[Bridge]\nNode=dumped\nRedis=redis-sentinel://a:1,b:2/m\n"
                                                "WaitMs=9\nInboxLimit=10\nInsecure=yes\n"
                                                "XcomponentCompat=yes\nXcomponentComponents=X Y\n");
        char dumped[512];
        FILE *f;

        assert_int_equal(load_file(&c, NULL, path), 0);
        snprintf(dumped, sizeof dumped, "%s/dumped.conf", dir);
        f = fopen(dumped, "we");
        assert_non_null(f);
        bridge_config_dump(&c, f);
        fclose(f);

        assert_int_equal(load_file(&d, NULL, dumped), 0);
        assert_string_equal(d.node, c.node);
        assert_string_equal(d.redis_url, c.redis_url);
        assert_int_equal(d.redis_kind, c.redis_kind);
        assert_int_equal(d.min_replicas, c.min_replicas);
        assert_int_equal(d.wait_ms, c.wait_ms);
        assert_int_equal(d.inbox_limit, c.inbox_limit);
        assert_int_equal(d.insecure, c.insecure);
        assert_int_equal(d.xcomponent_compat, c.xcomponent_compat);
        assert_non_null(d.xcomponent_components);
        assert_string_equal(d.xcomponent_components[0], "X");
        assert_string_equal(d.xcomponent_components[1], "Y");
        assert_null(d.xcomponent_components[2]);
}

/* Node names: 1 to 64 of [A-Za-z0-9_.-], not "." or "..". */
static void test_node_names(void **state) {
        char max[NODE_NAME_MAX + 2];

        memset(max, 'a', NODE_NAME_MAX);
        max[NODE_NAME_MAX] = 0;
        assert_true(node_name_is_valid(max));
        max[NODE_NAME_MAX] = 'a';
        max[NODE_NAME_MAX + 1] = 0;
        assert_false(node_name_is_valid(max));

        assert_true(node_name_is_valid("host-1.example.org"));
        assert_true(node_name_is_valid("A_b"));
        assert_true(node_name_is_valid("..."));
        assert_false(node_name_is_valid(""));
        assert_false(node_name_is_valid(NULL));
        assert_false(node_name_is_valid("."));
        assert_false(node_name_is_valid(".."));
        assert_false(node_name_is_valid("a/b"));
        assert_false(node_name_is_valid("a b"));
        assert_false(node_name_is_valid("a{b}"));
        assert_false(node_name_is_valid("caf\xc3\xa9"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_without_a_file),
                cmocka_unit_test(test_every_key_is_read),
                cmocka_unit_test(test_booleans_lists_and_repeated_keys),
                cmocka_unit_test(test_sentinel_url_defaults_to_one_replica),
                cmocka_unit_test(test_options_override_the_file),
                cmocka_unit_test(test_bad_options_are_refused),
                cmocka_unit_test(test_each_bad_value_is_an_error_at_its_line),
                cmocka_unit_test(test_all_bad_lines_are_reported),
                cmocka_unit_test(test_unknown_key_is_a_warning_at_its_line),
                cmocka_unit_test(test_dump_reads_back_the_same),
                cmocka_unit_test(test_node_names),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
