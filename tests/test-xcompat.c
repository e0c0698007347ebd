/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-redis-bridge's XcomponentCompat= against a real redis-server and a
 * peer speaking xcomponent-ai 0.6.0's wire format (tests/xcomponent-peer.py:
 * xcomponent-ai itself is a Node project the suite cannot run). Two xfsm
 * nodes, each its private dbus-daemon, xfsmd and bridge in compat mode,
 * sharing pub/sub but not keys (Redis databases 1 and 0: pub/sub ignores
 * databases), as two deployments in the middle of a migration:
 * - node A, the order side: OrderComponent (the seed demo) and XcOrder
 *   (tests/data/xcompat-order.yaml), with PaymentComponent served by
 *   xcomponent-ai (XcomponentComponents=PaymentComponent);
 * - node B, the payment side: PaymentComponent.
 * The peer publishes as xcomponent-ai's OrderComponent does, and listens
 * on xcomponent:PaymentComponent as xcomponent-ai's PaymentComponent does,
 * checking every message is exactly of its form. The bridges log in as the
 * ACL user of xfsm-redis-bridge(8) for compat mode, and nothing they do is
 * refused (ACL LOG stays empty). Exit 77 without redis-server or python3. */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "nodes.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static char dir[256], listen_out[320];
static int redis_port;
static pid_t redis_pid, listener;

static Node A = { .name = "orders",
                  .files = { "xcomponent/demo-order.yaml", "xcompat-order.yaml" },
                  .stems = { "order", "xcorder" },
                  .log_append = true };
static Node B = { .name = "payments",
                  .files = { "xcomponent/demo-payment.yaml" },
                  .stems = { "payment" },
                  .log_append = true };

/* ---- processes -------------------------------------------------------------------- */

static const char *peer(void) {
        static char path[400];
        snprintf(path, sizeof path, "%s/xcomponent-peer.py", env_or("XFSM_TEST_DIR", "tests"));
        return path;
}

static void bridge_start(Node *n) {
        n->bridge = node_spawn_bridge(n, NULL, NULL, NULL);
        assert_true(n->bridge > 0);
}

/* conf: bridge.conf's [Bridge] lines; db: the Redis database of its keys */
static void node_start(Node *n, const char *conf, unsigned db) {
        char *options[] = { (char *) "--durability", (char *) "batch", NULL };

        node_setup(n, dir, NULL);
        snprintf(n->config, sizeof n->config, "%s/bridge.conf", n->dir);
        nodes_run("printf '[Bridge]\\n%s' > %s", conf, n->config);
        snprintf(n->redis_url, sizeof n->redis_url, "redis://xfsm:secret@127.0.0.1:%d/%u", redis_port, db);
        n->xfsmd = node_spawn_xfsmd(n, options, NULL);
        assert_true(n->xfsmd > 0);

        bridge_start(n);
}

/* ---- calls ------------------------------------------------------------------------------ */

static uint64_t counter(Node *n, const char *name) {
        uint64_t v = 0;

        if (sd_bus_get_property_trivial(n->bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.xfsm1.XcomponentCompat",
                                        name, NULL, 't', &v) < 0)
                return UINT64_MAX;
        return v;
}

/* Every message received so far answered (delivered, dropped or malformed), and at least want received. */
static void wait_settled(Node *n, uint64_t want) {
        uint64_t rec = 0, done = 0;

        for (int k = 0; k < 500; k++) {
                rec = counter(n, "Received");
                done = counter(n, "Delivered") + counter(n, "Dropped") + counter(n, "Malformed") +
                       counter(n, "Overflow");
                if (rec != UINT64_MAX && rec >= want && done == rec)
                        return;
                usleep(20000);
        }
        fail_msg("%s: %llu received (want %llu), %llu answered", n->name, (unsigned long long) rec,
                 (unsigned long long) want, (unsigned long long) done);
}

static void send_event(Node *n, const char *component, const char *id, const char *event) {
        char bn[128], path[128];
        sd_bus_error error = SD_BUS_ERROR_NULL;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(n->bus, bn, path, "org.xfsm1.Component", "Send", &error, NULL, "sss", id, event, "{}") < 0)
                fail_msg("Send %s %s: %s", component, event, error.message);
}

/* The instance's context as JSON text (static buffer). */
static const char *context_of(Node *n, const char *component, const char *id) {
        static char buf[4096];
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        const char *ctx = "";

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(n->bus, bn, path, "org.xfsm1.Component", "GetContext", NULL, &reply, "s", id) >= 0)
                (void) sd_bus_message_read(reply, "s", &ctx);
        snprintf(buf, sizeof buf, "%s", ctx);
        sd_bus_message_unref(reply);
        return buf;
}

static const char *payment_state(const char *id) {
        static char buf[64];
        char path[256], *escaped = NULL, *v = NULL;

        assert_true(sd_bus_path_encode("/org/xfsm1/PaymentComponent/Payment", id, &escaped) >= 0);
        snprintf(path, sizeof path, "%s", escaped);
        free(escaped);
        if (sd_bus_get_property_string(B.bus, "org.xfsm1.PaymentComponent", path, "org.xfsm1.Instance", "State", NULL,
                                       &v) < 0)
                return "?";
        snprintf(buf, sizeof buf, "%s", v);
        free(v);
        return buf;
}

static bool wait_payment(const char *id, const char *want) {
        for (int k = 0; k < 250; k++) {
                if (strcmp(payment_state(id), want) == 0)
                        return true;
                usleep(20000);
        }
        return false;
}

/* As xcomponent-ai publishes on xcomponent:PaymentComponent (a hand-made message). */
static void publish(const char *message) {
        FILE *f;
        char path[320];

        snprintf(path, sizeof path, "%s/message", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(message, f);
        fclose(f);
        nodes_run("python3 %s raw %d xcomponent:PaymentComponent < %s > /dev/null", peer(), redis_port, path);
}

/* The k-th message the listener got (from 0), "" if none yet; fails when the
 * listener found it not exactly of xcomponent-ai's form (its "BAD" line
 * follows it; the test's own hand-made messages may have one too). */
static const char *heard_ex(int k, bool check) {
        static char line[1 << 16];
        char next[512];
        FILE *f = fopen(listen_out, "re");
        int i = -1;

        line[0] = 0;
        if (!f)
                return line;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                if (strcmp(line, "READY") == 0 || strncmp(line, "BAD", 3) == 0)
                        continue;
                if (++i == k) {
                        if (check && fgets(next, sizeof next, f) && strncmp(next, "BAD", 3) == 0)
                                fail_msg("message %d is not of xcomponent-ai's form: %s", k, next);
                        fclose(f);
                        return line;
                }
        }
        fclose(f);
        line[0] = 0;
        return line;
}

static const char *heard(int k) {
        return heard_ex(k, true);
}

/* Messages the listener got so far. */
static int n_heard(void) {
        int n = 0;

        while (*heard_ex(n, false))
                n++;
        return n;
}

static bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *wait_heard(int k) {
        for (int j = 0; j < 250 && !*heard(k); j++)
                usleep(20000);
        return heard(k);
}

/* Subscribers of xcomponent:PaymentComponent. */
static int numsub(void) {
        char cmd[200], out[64] = "";
        FILE *p;

        snprintf(cmd, sizeof cmd, "redis-cli -p %d PUBSUB NUMSUB xcomponent:PaymentComponent 2>/dev/null | tail -1",
                 redis_port);
        p = popen(cmd, "r");
        if (!p)
                return -1;
        if (!fgets(out, sizeof out, p))
                out[0] = 0;
        pclose(p);
        return atoi(out);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int setup(void **state) {
        char port[16];

        if (access("/usr/bin/redis-server", X_OK) < 0 || system("python3 -c '' 2>/dev/null") != 0) {
                fprintf(stderr, "redis-server or python3 is not installed: skipping\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-xcompat-XXXXXX");
        assert_non_null(mkdtemp(dir));
        redis_port = nodes_free_port();
        snprintf(port, sizeof port, "%d", redis_port);
        setenv("XFSM_XCOMPAT_REDIS_PORT", port, 1);
        redis_pid = redis_server_start(dir, "redis", redis_port, false, NULL);
        /* the bridges as the ACL user xfsm-redis-bridge(8) gives for compat mode; the peer as default */
        assert_string_equal(redis_cli(redis_port, "ACL SETUSER xfsm on '>secret' resetkeys '~xfsm:*' resetchannels '&xfsm:*' "
                                  "'&xcomponent:*' -@all +ping +select +get +set +sadd +smembers +eval +xlen +xadd "
                                  "'+xgroup|create' +xreadgroup +xack +xtrim +publish +wait +time +xread "
                                  "+xpending +xrange +del +xdel +exists +srem +subscribe"),
                            "OK");

        node_start(&A, "XcomponentCompat=yes\nXcomponentComponents=PaymentComponent\n", 1);
        node_start(&B, "XcomponentCompat=yes\n", 0);
        /* the payment side subscribed to its channel; the order side's counters are up */
        for (int k = 0; k < 500 && numsub() < 1; k++)
                usleep(20000);
        assert_true(numsub() >= 1);
        for (int k = 0; k < 500 && counter(&A, "Published") == UINT64_MAX; k++)
                usleep(20000);
        assert_true(wait_name(B.bus, "org.xfsm1.PaymentComponent", true));
        assert_true(wait_name(A.bus, "org.xfsm1.XcOrder", true));

        /* xcomponent-ai's PaymentComponent, listening */
        snprintf(listen_out, sizeof listen_out, "%s/heard", dir);
        char cmd[1000];
        snprintf(cmd, sizeof cmd, "exec python3 %s listen %d xcomponent:PaymentComponent %s", peer(), redis_port,
                 listen_out);
        char *largv[] = { (char *) "/bin/sh", (char *) "-c", cmd, NULL };
        listener = spawn(largv, NULL);
        for (int k = 0; k < 500; k++) {
                FILE *f = fopen(listen_out, "re");
                char line[16] = "";
                if (f) {
                        if (!fgets(line, sizeof line, f))
                                line[0] = 0;
                        fclose(f);
                }
                if (strncmp(line, "READY", 5) == 0)
                        break;
                usleep(20000);
        }
        /* the listener's subscription too */
        for (int k = 0; k < 500 && numsub() < 2; k++)
                usleep(20000);
        assert_int_equal(numsub(), 2);
        return 0;
}

static int teardown(void **state) {
        int bad, shown = 0;

        /* nothing the bridges did was refused by the ACL (checked once everything is stopped) */
        char acl_log[1024];
        snprintf(acl_log, sizeof acl_log, "%s", redis_cli(redis_port, "ACL LOG"));
        if (*acl_log)
                shown = system("redis-cli -p $XFSM_XCOMPAT_REDIS_PORT ACL LOG >&2");
        process_stop(&listener, SIGTERM);
        bad = node_stop(&A) + node_stop(&B);
        process_stop(&redis_pid, SIGTERM);
        nodes_remove(dir);
        assert_int_equal(bad, 0);
        assert_int_equal(shown, 0);
        assert_string_equal(acl_log, "");
        return 0;
}

/* ---- tests ------------------------------------------------------------------------------------- */

#define DEMO_PREFIX                                                                                              \
        "{\"sourceComponent\":\"OrderComponent\",\"targetComponent\":\"PaymentComponent\",\"targetMachine\":" \
        "\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\",\"payload\":"

/* The seed demo both ways: xcomponent-ai's Order moves an xfsm Payment; an
 * xfsm Order's cascade reaches xcomponent-ai's Payment in its format. */
static void test_seed_demo_cascade_both_ways(void **state) {
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"ORD-1\"}");
        uint64_t before = counter(&B, "Delivered");

        nodes_run("python3 %s cascade %d --source OrderComponent --target PaymentComponent --machine Payment --state Pending "
            "--event PROCESS --payload '{\"orderId\":\"ORD-1\",\"amount\":10,\"customerId\":\"CUST-1\"}' >/dev/null",
            peer(), redis_port);
        assert_true(wait_payment(p, "Processing"));
        assert_non_null(strstr(context_of(&B, "PaymentComponent", p), "\"amount\":10"));
        assert_non_null(strstr(context_of(&B, "PaymentComponent", p), "\"customerId\":\"CUST-1\""));
        wait_settled(&B, 1);
        assert_int_equal(counter(&B, "Delivered"), before + 1);

        /* the other way: an xfsm Order on node A, validated */
        char *o = node_create(&A, "OrderComponent", "Order", "{\"orderId\":\"ORD-2\",\"amount\":20,\"customerId\":\"CUST-2\"}");
        char *p2 = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"ORD-2\"}");
        int first = n_heard();
        send_event(&A, "OrderComponent", o, "VALIDATE");
        const char *m = wait_heard(first);
        if (!starts_with(m, DEMO_PREFIX "{\"orderId\":\"ORD-2\",\"amount\":20,\"customerId\":\"CUST-2\"},\"timestamp\":"))
                fail_msg("heard: %s", m);
        /* no rules: no "filters" at all */
        assert_null(strstr(m, "filters"));
        assert_string_equal(m + strlen(m) - 2, "}}");
        for (int k = 0; k < 250 && counter(&A, "Published") < 1; k++)
                usleep(20000);
        assert_int_equal(counter(&A, "Published"), 1);
        /* and node B, in compat mode, takes it from the channel as xcomponent-ai would */
        assert_true(wait_payment(p2, "Processing"));
        free(p);
        free(p2);
        free(o);
}

/* A rule without matchingRules: every Payment in Pending, each with the payload merged. */
static void test_two_payments_in_pending_both_moved_and_payload_merged(void **state) {
        char *p1 = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"T1\"}");
        char *p2 = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"T2\"}");

        nodes_run("python3 %s cascade %d --source OrderComponent --target PaymentComponent --machine Payment --state Pending "
            "--event PROCESS --payload '{\"amount\":99,\"note\":\"merged\"}' >/dev/null",
            peer(), redis_port);
        assert_true(wait_payment(p1, "Processing"));
        assert_true(wait_payment(p2, "Processing"));
        assert_non_null(strstr(context_of(&B, "PaymentComponent", p1), "\"orderId\":\"T1\""));
        assert_non_null(strstr(context_of(&B, "PaymentComponent", p1), "\"note\":\"merged\""));
        assert_non_null(strstr(context_of(&B, "PaymentComponent", p2), "\"orderId\":\"T2\""));
        assert_non_null(strstr(context_of(&B, "PaymentComponent", p2), "\"amount\":99"));
        free(p1);
        free(p2);
}

/* targetState "*", "" and absent: every state; a state with no transition on the event: dropped, counted. */
static void test_target_state_any_and_no_transition(void **state) {
        const char *forms[] = { ",\"targetState\":\"*\"", ",\"targetState\":\"\"", "" };

        for (size_t k = 0; k < 3; k++) {
                char msg[512];
                char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"S\"}");
                snprintf(msg, sizeof msg,
                         "{\"sourceComponent\":\"OrderComponent\",\"targetComponent\":\"PaymentComponent\","
                         "\"targetMachine\":\"Payment\"%s,\"event\":{\"type\":\"PROCESS\",\"payload\":{}}}",
                         forms[k]);
                publish(msg);
                assert_true(wait_payment(p, "Processing"));
                free(p);
        }
        uint64_t received = counter(&B, "Received"), dropped = counter(&B, "Dropped");
        /* every Payment is in Processing now: PROCESS there has no transition */
        publish("{\"sourceComponent\":\"OrderComponent\",\"targetComponent\":\"PaymentComponent\",\"targetMachine\":"
                "\"Payment\",\"targetState\":\"Processing\",\"event\":{\"type\":\"PROCESS\",\"payload\":{}}}");
        wait_settled(&B, received + 1);
        assert_int_equal(counter(&B, "Dropped"), dropped + 1);
}

typedef struct FilterCase {
        const char *filter; /* the tested filter, after the one that picks this case's Payments */
        const char *moved;  /* for amounts 5, "5", 10 and none: 1 moved, 0 stayed */
} FilterCase;

/* Filters: each operator, no operator, no value, JavaScript's comparisons of strings and numbers. */
static void test_filters_with_javascript_comparisons(void **state) {
        static const FilterCase cases[] = {
                { "{\"property\":\"amount\",\"operator\":\"===\",\"value\":5}", "1000" },
                { "{\"property\":\"amount\",\"operator\":\"!==\",\"value\":5}", "0111" },
                { "{\"property\":\"amount\",\"operator\":\">\",\"value\":4}", "1110" },
                { "{\"property\":\"amount\",\"operator\":\"<\",\"value\":10}", "1100" },
                { "{\"property\":\"amount\",\"operator\":\">=\",\"value\":10}", "0010" },
                { "{\"property\":\"amount\",\"operator\":\"<=\",\"value\":\"5\"}", "1100" },
                { "{\"property\":\"amount\",\"value\":\"5\"}", "0100" },            /* no operator: === */
                { "{\"property\":\"amount\",\"operator\":\"===\"}", "0001" },       /* no value: lacks it */
                { "{\"property\":\"amount\",\"operator\":\"==\",\"value\":5}", "0000" }, /* unknown operator */
                { "{\"property\":\"amount\",\"operator\":\">\",\"value\":\"40\"}", "0100" }, /* "5" > "40" */
        };
        static const char *const amounts[] = { ",\"amount\":5", ",\"amount\":\"5\"", ",\"amount\":10", "" };
        char *ids[ELEMENTSOF(cases)][4];
        uint64_t received = counter(&B, "Received");

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                char msg[1024], ctx[128];
                for (size_t a = 0; a < 4; a++) {
                        snprintf(ctx, sizeof ctx, "{\"case\":%zu%s}", c, amounts[a]);
                        ids[c][a] = node_create(&B, "PaymentComponent", "Payment", ctx);
                }
                snprintf(msg, sizeof msg,
                         "{\"sourceComponent\":\"OrderComponent\",\"targetComponent\":\"PaymentComponent\","
                         "\"targetMachine\":\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\","
                         "\"payload\":{},\"timestamp\":1700000000000},\"filters\":[{\"property\":\"case\","
                         "\"operator\":\"===\",\"value\":%zu},%s]}",
                         c, cases[c].filter);
                publish(msg);
        }
        wait_settled(&B, received + ELEMENTSOF(cases));
        for (size_t c = 0; c < ELEMENTSOF(cases); c++)
                for (size_t a = 0; a < 4; a++) {
                        const char *want = cases[c].moved[a] == '1' ? "Processing" : "Pending";
                        if (strcmp(payment_state(ids[c][a]), want) != 0)
                                fail_msg("filter %s, context %s: %s, not %s", cases[c].filter, amounts[a],
                                         payment_state(ids[c][a]), want);
                        free(ids[c][a]);
                }

        /* the peer's own resolution: a rule's value from the source's context when the payload lacks it */
        char *r1 = node_create(&B, "PaymentComponent", "Payment", "{\"ref\":\"R1\"}");
        char *r2 = node_create(&B, "PaymentComponent", "Payment", "{\"ref\":\"R2\"}");
        nodes_run("python3 %s cascade %d --source OrderComponent --target PaymentComponent --machine Payment --state Pending "
            "--event PROCESS --payload '{}' --context '{\"ref\":\"R1\"}' "
            "--rules '[{\"eventProperty\":\"ref\",\"instanceProperty\":\"ref\"}]' >/dev/null",
            peer(), redis_port);
        assert_true(wait_payment(r1, "Processing"));
        wait_settled(&B, received + ELEMENTSOF(cases) + 1);
        assert_string_equal(payment_state(r2), "Pending");
        free(r1);
        free(r2);
}

/* xfsm's cascade with matchingRules: filters whose values the sender resolved
 * (payload, then the source's context, or none); a creation has no message. */
static void test_xfsm_cascade_publishes_resolved_filters(void **state) {
        char *o = node_create(&A, "XcOrder", "Order", "{\"orderId\":\"X1\",\"amount\":7,\"customerId\":\"C9\"}");
        char *ok = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"X1\",\"customer\":\"C1\"}");
        char *same = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"X1\",\"customer\":\"C9\"}");
        char *region = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"X1\",\"customer\":\"C1\",\"region\":\"eu\"}");
        int first = n_heard();
        const char *m;

        send_event(&A, "XcOrder", o, "VALIDATE");
        m = wait_heard(first);
        if (!starts_with(m, "{\"sourceComponent\":\"XcOrder\",\"targetComponent\":\"PaymentComponent\",\"targetMachine\":"
                            "\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\",\"payload\":"
                            "{\"orderId\":\"X1\",\"amount\":7},\"timestamp\":"))
                fail_msg("heard: %s", m);
        assert_non_null(strstr(m, "},\"filters\":[{\"property\":\"orderId\",\"operator\":\"===\",\"value\":\"X1\"},"
                                  "{\"property\":\"customer\",\"operator\":\"!==\",\"value\":\"C9\"},"
                                  "{\"property\":\"region\",\"operator\":\"===\"}]}"));
        assert_true(wait_payment(ok, "Processing"));
        assert_string_equal(payment_state(same), "Pending");
        assert_string_equal(payment_state(region), "Pending");

        /* SHIP creates a Payment: xcomponent-ai has no such message; taken, counted, and the queue goes on */
        uint64_t refused = counter(&A, "Refused");
        send_event(&A, "XcOrder", o, "SHIP");
        for (int k = 0; k < 250 && counter(&A, "Refused") == refused; k++)
                usleep(20000);
        assert_int_equal(counter(&A, "Refused"), refused + 1);
        char *o2 = node_create(&A, "XcOrder", "Order", "{\"orderId\":\"X2\",\"amount\":1,\"customerId\":\"C9\"}");
        send_event(&A, "XcOrder", o2, "VALIDATE");
        assert_non_null(strstr(wait_heard(first + 1), "\"value\":\"X2\""));
        free(o);
        free(o2);
        free(ok);
        free(same);
        free(region);
}

/* A cross_component transition with targetEvent toward xcomponent-ai: the
 * same form as a cascade, targetState "*", its matchingRules as filters
 * with the values the sender resolved. */
static void test_xfsm_cross_component_event_published_for_any_state(void **state) {
        char *o = node_create(&A, "XcOrder", "Order", "{\"orderId\":\"N1\",\"amount\":3}");
        char *hit = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"N1\"}");
        char *miss = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"N2\"}");
        int first = n_heard();
        const char *m;

        send_event(&A, "XcOrder", o, "NUDGE");
        m = wait_heard(first);
        if (!starts_with(m, "{\"sourceComponent\":\"XcOrder\",\"targetComponent\":\"PaymentComponent\",\"targetMachine\":"
                            "\"Payment\",\"targetState\":\"*\",\"event\":{\"type\":\"PROCESS\",\"payload\":"
                            "{\"orderId\":\"N1\"},\"timestamp\":"))
                fail_msg("heard: %s", m);
        assert_non_null(strstr(m, "},\"filters\":[{\"property\":\"orderId\",\"operator\":\"===\",\"value\":\"N1\"}]}"));
        assert_true(wait_payment(hit, "Processing"));
        assert_string_equal(payment_state(miss), "Pending");
        free(o);
        free(hit);
        free(miss);
}

/* Garbage: counted, logged once per kind, nothing changes, the bridge goes on. */
static void test_garbage_on_the_channel_changes_nothing(void **state) {
        static const char *const garbage[] = {
                "not json",
                "[1,2]",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\"", /* cut short */
                "{\"targetMachine\":5,\"event\":{\"type\":\"PROCESS\"}}",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\",\"payload\":\"x\"}}",
                "{\"targetMachine\":\"Payment\",\"event\":\"PROCESS\"}",
                "{\"targetMachine\":\"Payment\",\"targetState\":7,\"event\":{\"type\":\"PROCESS\"}}",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\"},\"filters\":{}}",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\"},\"filters\":[{\"property\":1}]}",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\",\"timestamp\":\"now\"}}",
                "{\"targetMachine\":\"Pay ment\",\"event\":{\"type\":\"PROCESS\"}}",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PRO CESS\"}}",
                "{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\",\"payload\":{\"x\":\"\xff\"}}}",
                /* read by json-c, refused by JSON.parse: NaN would reach the context */
                "{\"targetMachine\":\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\","
                "\"payload\":{\"x\":NaN}}}",
                "{'targetMachine':'Payment','targetState':'Pending','event':{'type':'PROCESS'}}",
                "{\"targetMachine\":\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\"},}",
        };
        static const char *const kinds[] = { "not a JSON object in UTF-8", "a field missing or of the wrong type",
                                             "a name xfsm cannot carry", "too large" };
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"G\"}");
        uint64_t received = counter(&B, "Received"), malformed = counter(&B, "Malformed");
        char log[400], big[320];
        FILE *f;

        for (size_t k = 0; k < ELEMENTSOF(garbage); k++)
                publish(garbage[k]);
        /* over 1 MiB */
        snprintf(big, sizeof big, "%s/big", dir);
        f = fopen(big, "we");
        assert_non_null(f);
        fputs("{\"targetMachine\":\"Payment\",\"event\":{\"type\":\"PROCESS\",\"payload\":{\"x\":\"", f);
        for (int k = 0; k < 1100 * 1024; k++)
                fputc('a', f);
        fputs("\"}}}", f);
        fclose(f);
        nodes_run("python3 %s raw %d xcomponent:PaymentComponent < %s > /dev/null", peer(), redis_port, big);
        wait_settled(&B, received + ELEMENTSOF(garbage) + 1);
        assert_int_equal(counter(&B, "Malformed"), malformed + ELEMENTSOF(garbage) + 1);
        assert_string_equal(payment_state(p), "Pending");
        assert_string_equal(context_of(&B, "PaymentComponent", p), "{\"orderId\":\"G\"}");
        /* logged once per kind: seven messages that are not JSON objects in UTF-8, one line; and so on */
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                snprintf(log, sizeof log, "grep -c 'can never be delivered (%s)' %s/bridge.log | grep -qx 1", kinds[k],
                         B.dir);
                if (system(log) != 0)
                        fail_msg("not logged exactly once: %s", kinds[k]);
        }

        /* and the bridge goes on */
        publish("{\"targetMachine\":\"Payment\",\"targetState\":\"Pending\",\"event\":{\"type\":\"PROCESS\"}}");
        assert_true(wait_payment(p, "Processing"));
        free(p);
}

/* A machine or a state the component does not have: nobody takes it, as in
 * xcomponent-ai; dropped, counted, and the messages after it still flow. */
static void test_unknown_machine_or_state_dropped(void **state) {
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"U\"}");
        uint64_t received = counter(&B, "Received"), dropped = counter(&B, "Dropped");

        publish("{\"sourceComponent\":\"OrderComponent\",\"targetMachine\":\"Nope\",\"targetState\":\"Pending\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{}}}");
        publish("{\"sourceComponent\":\"OrderComponent\",\"targetMachine\":\"Payment\",\"targetState\":\"Nowhere\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{}}}");
        wait_settled(&B, received + 2);
        assert_int_equal(counter(&B, "Dropped"), dropped + 2);
        assert_string_equal(payment_state(p), "Pending");
        publish("{\"sourceComponent\":\"OrderComponent\",\"targetMachine\":\"Payment\",\"targetState\":\"Pending\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{}}}");
        assert_true(wait_payment(p, "Processing"));
        free(p);
}

/* Redis drops the bridges' subscribing connections (as it does past
 * client-output-buffer-limit pubsub): each bridge connects and subscribes
 * again, and messages flow again. */
static void test_subscription_comes_back_after_redis_drops_it(void **state) {
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"BACK\"}");
        const char *killed = redis_cli(redis_port, "CLIENT KILL TYPE pubsub USER xfsm");

        assert_true(atoi(killed) >= 2); /* at least node A's and node B's */
        for (int k = 0; k < 500 && numsub() < 2; k++)
                usleep(20000);
        assert_int_equal(numsub(), 2);
        publish("{\"sourceComponent\":\"OrderComponent\",\"targetMachine\":\"Payment\",\"targetState\":\"Pending\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{}}}");
        assert_true(wait_payment(p, "Processing"));
        free(p);
}

/* Anyone may publish any sourceComponent: past 1024 sources in one run of
 * the bridge, and for a name xfsm cannot carry, messages are numbered as
 * "xcomponent:unknown" and still delivered, as xcomponent-ai ignores the
 * name. */
static void test_many_or_odd_sources_still_delivered(void **state) {
        char path[320];
        FILE *f;
        uint64_t received = counter(&B, "Received"), malformed = counter(&B, "Malformed");
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"MANY\"}");
        char *q = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"ODD\"}");

        snprintf(path, sizeof path, "%s/sources", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        /* an event no Payment has a transition for: taken by none */
        for (int k = 0; k < 1100; k++)
                fprintf(f, "PUBLISH xcomponent:PaymentComponent '{\"sourceComponent\":\"S%d\",\"targetMachine\":"
                           "\"Payment\",\"event\":{\"type\":\"NOOP\"}}'\n",
                        k);
        fclose(f);
        nodes_run("redis-cli -p %d < %s > /dev/null", redis_port, path);
        wait_settled(&B, received + 1100);
        publish("{\"sourceComponent\":\"Fresh\",\"targetMachine\":\"Payment\",\"targetState\":\"Pending\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{\"orderId\":\"MANY\"}},"
                "\"filters\":[{\"property\":\"orderId\",\"value\":\"MANY\"}]}");
        assert_true(wait_payment(p, "Processing"));
        publish("{\"sourceComponent\":\"Order Component\",\"targetMachine\":\"Payment\",\"targetState\":\"Pending\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{}},"
                "\"filters\":[{\"property\":\"orderId\",\"value\":\"ODD\"}]}");
        assert_true(wait_payment(q, "Processing"));
        assert_int_equal(counter(&B, "Malformed"), malformed);
        free(p);
        free(q);
}

/* The payment side's bridge restarted: subscribed again (its home known from
 * before), its numbers start again under a new incarnation, and the worker
 * takes them. */
static void test_bridge_restart_subscribes_again_with_a_new_incarnation(void **state) {
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"AGAIN\"}");
        int status = process_stop(&B.bridge, SIGTERM);

        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        for (int k = 0; k < 250 && numsub() != 1; k++)
                usleep(20000);
        bridge_start(&B);
        for (int k = 0; k < 500 && numsub() < 2; k++)
                usleep(20000);
        assert_int_equal(numsub(), 2);
        publish("{\"sourceComponent\":\"OrderComponent\",\"targetMachine\":\"Payment\",\"targetState\":\"Pending\","
                "\"event\":{\"type\":\"PROCESS\",\"payload\":{\"again\":true}}}");
        assert_true(wait_payment(p, "Processing"));
        assert_int_equal(counter(&B, "Delivered"), 1);
        free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed_demo_cascade_both_ways),
                cmocka_unit_test(test_two_payments_in_pending_both_moved_and_payload_merged),
                cmocka_unit_test(test_target_state_any_and_no_transition),
                cmocka_unit_test(test_filters_with_javascript_comparisons),
                cmocka_unit_test(test_xfsm_cascade_publishes_resolved_filters),
                cmocka_unit_test(test_xfsm_cross_component_event_published_for_any_state),
                cmocka_unit_test(test_garbage_on_the_channel_changes_nothing),
                cmocka_unit_test(test_unknown_machine_or_state_dropped),
                cmocka_unit_test(test_subscription_comes_back_after_redis_drops_it),
                cmocka_unit_test(test_many_or_odd_sources_still_delivered),
                cmocka_unit_test(test_bridge_restart_subscribes_again_with_a_new_incarnation),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
