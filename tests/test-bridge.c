/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Two xfsm nodes on one machine, joined by their Redis bridges through a
 * real redis-server the test starts (appendonly, appendfsync always): each
 * node its own private dbus-daemon, its own xfsmd and bridge, its own state
 * and components directory. Node A hosts OrderComponent and StreamSender,
 * node B PaymentComponent and StreamReceiver. What crosses: the demo
 * cascade; a stream of numbered events (the receiver takes only the next
 * number, and counts) through kill -9 of either bridge and of the receiving
 * worker, and Redis gone for a while and back; forged entries (no MAC, a wrong MAC, another node's
 * name) end in the dead stream and change nothing; a second bridge claiming
 * a live node name is refused; a reload (SIGHUP) changes MinReplicas=,
 * WaitMs= and InboxLimit= of a running bridge, and a bad bridge.conf then
 * changes nothing;
 * a component installed on a node while the bridges run is homed there and
 * reached from the other, which forgets it once it is released and removed.
 * No mocks: exit 77 when redis-server is not installed. */

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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "nodes.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

static char dir[256];
static int redis_port;
static pid_t redis_pid;
static char empty_config[320];
static Node A = { .name = "nodeA",
                  .files = { "xcomponent/demo-order.yaml", "stream-sender.yaml" },
                  .stems = { "order", "sender" } };
static Node B = { .name = "nodeB",
                  .files = { "xcomponent/demo-payment.yaml", "stream-receiver.yaml" },
                  .stems = { "payment", "receiver" } };

/* ---- Redis ------------------------------------------------------------------- */

static void redis_start(void) {
        redis_pid = redis_server_start(dir, "redis", redis_port, true, NULL);
}

static void redis_stop(void) {
        process_stop(&redis_pid, SIGTERM);
}

/* ---- nodes ------------------------------------------------------------------ */

static void node_init(Node *n) {
        char nodes[300];

        snprintf(nodes, sizeof nodes, "%s/nodes.d", dir);
        node_setup(n, dir, nodes);
        snprintf(n->redis_url, sizeof n->redis_url, "redis://127.0.0.1:%d", redis_port);
        /* never the host's /etc/xfsm/bridge.conf */
        snprintf(n->config, sizeof n->config, "%s", empty_config);
}

static void start_xfsmd(Node *n, const char *durability) {
        char *options[] = { (char *) "--durability", (char *) durability, NULL };

        n->xfsmd = node_spawn_xfsmd(n, options, NULL);
        assert_true(n->xfsmd > 0);
        for (int k = 0; k < 500 && !name_has_owner(n->bus, n == &A ? "org.xfsm1.StreamSender" : "org.xfsm1.StreamReceiver");
             k++)
                usleep(10000);
}

static void wait_bridge(Node *n, const char *remote) {
        node_wait_bridge(n, remote, 1000);
}

static void start_bridge(Node *n, const char *remote) {
        n->bridge = node_spawn_bridge(n, NULL, NULL, NULL);
        assert_true(n->bridge > 0);
        if (remote)
                wait_bridge(n, remote);
}

/* ---- calls ------------------------------------------------------------------- */

/* Wait until the receiver has taken want numbers. */
static long wait_count(const char *receiver, long want, int seconds) {
        long c = -1;
        for (int k = 0; k < seconds * 50 && (c = node_context_number(&B, "StreamReceiver", receiver, "count")) < want;
             k++)
                usleep(20000);
        return c;
}

/* ---- setup ------------------------------------------------------------------- */

static int setup(void **state) {
        if (access("/usr/bin/redis-server", X_OK) < 0) {
                fprintf(stderr, "redis-server is not installed: skipping\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-bridge-XXXXXX");
        assert_non_null(mkdtemp(dir));
        redis_port = nodes_free_port();
        snprintf(empty_config, sizeof empty_config, "%s/empty.conf", dir);
        nodes_run(": > %s", empty_config);
        redis_start();
        node_init(&A);
        node_init(&B);
        start_xfsmd(&A, "batch");
        start_xfsmd(&B, "batch");
        start_bridge(&A, NULL);
        start_bridge(&B, NULL);
        wait_bridge(&A, "StreamReceiver");
        wait_bridge(&B, "StreamSender");
        return 0;
}

static int teardown(void **state) {
        /* SIGTERM is a clean stop (and under the sanitizers, no leak) */
        int bad = node_stop(&A) + node_stop(&B);

        redis_stop();
        nodes_remove(dir);
        assert_int_equal(bad, 0);
        return 0;
}

/* ---- tests ------------------------------------------------------------------- */

/* The demo: an Order on node A entering Validated cascades PROCESS to the
 * Payments in Pending on node B. */
static void test_cascade_crosses_nodes(void **state) {
        char *p = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"ORD-1\"}");
        char *o = node_create(&A, "OrderComponent", "Order", "{\"orderId\":\"ORD-1\",\"amount\":10}");
        char *st = NULL;

        assert_int_equal(node_send(&A, "OrderComponent", o, "VALIDATE", "{}"), 0);
        for (int k = 0; k < 250; k++) {
                free(st);
                st = node_state(&B, "PaymentComponent", "Payment", p);
                if (strcmp(st, "Processing") == 0)
                        break;
                usleep(20000);
        }
        assert_string_equal(st, "Processing");
        /* the inbox is acknowledged and trimmed */
        for (int k = 0; k < 100 && strcmp(redis_cli(redis_port, "XLEN xfsm:{PaymentComponent}:inbox"), "0") != 0; k++)
                usleep(20000);
        assert_string_equal(redis_cli(redis_port, "XLEN xfsm:{PaymentComponent}:inbox"), "0");
        free(st);
        free(p);
        free(o);
}

static void send_numbers(const char *sender, long from, long to) {
        char payload[64];
        for (long n = from; n <= to; n++) {
                snprintf(payload, sizeof payload, "{\"n\":%ld}", n);
                assert_int_equal(node_send(&A, "StreamSender", sender, "NEXT", payload), 0);
        }
}

/* A stream of numbered events from A to B, every one acknowledged to its
 * caller; faults in between; afterwards the receiver took each number once,
 * in order (it takes only the next one, and counts). */
static void test_stream_exactly_once_through_faults(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}");
        long n = 0;

        send_numbers(sender, n + 1, n + 20), n += 20;
        assert_int_equal(wait_count(receiver, n, 10), n);

        /* the receiving bridge dies with entries pending */
        send_numbers(sender, n + 1, n + 20), n += 20;
        process_stop(&B.bridge, SIGKILL);
        send_numbers(sender, n + 1, n + 20), n += 20;
        start_bridge(&B, "StreamSender");
        assert_int_equal(wait_count(receiver, n, 20), n);
        fprintf(stderr, "# kill -9 of the receiving bridge: sent %ld, applied %ld\n", n,
                node_context_number(&B, "StreamReceiver", receiver, "last"));

        /* the receiving worker dies */
        send_numbers(sender, n + 1, n + 20), n += 20;
        process_stop(&B.xfsmd, SIGKILL);
        send_numbers(sender, n + 1, n + 20), n += 20;
        start_xfsmd(&B, "batch");
        assert_int_equal(wait_count(receiver, n, 20), n);
        fprintf(stderr, "# kill -9 of the receiving worker: sent %ld, applied %ld\n", n,
                node_context_number(&B, "StreamReceiver", receiver, "last"));

        /* the sending bridge dies: events wait in the sender's outbox */
        process_stop(&A.bridge, SIGKILL);
        send_numbers(sender, n + 1, n + 20), n += 20;
        start_bridge(&A, "StreamReceiver");
        assert_int_equal(wait_count(receiver, n, 20), n);
        fprintf(stderr, "# kill -9 of the sending bridge: sent %ld, applied %ld\n", n,
                node_context_number(&B, "StreamReceiver", receiver, "last"));

        /* Redis goes away for a while, then comes back (appendfsync always: it kept what it acknowledged) */
        redis_stop();
        send_numbers(sender, n + 1, n + 20), n += 20;
        usleep(500000);
        redis_start();
        assert_int_equal(wait_count(receiver, n, 30), n);
        fprintf(stderr, "# Redis stopped and started: sent %ld, applied %ld\n", n,
                node_context_number(&B, "StreamReceiver", receiver, "last"));

        /* the sender runs with durability none and restarts, twice: a new incarnation each time */
        for (int round = 0; round < 2; round++) {
                process_stop(&A.xfsmd, SIGKILL);
                start_xfsmd(&A, "none");
                send_numbers(sender, n + 1, n + 20), n += 20;
                assert_int_equal(wait_count(receiver, n, 20), n);
        }
        fprintf(stderr, "# the sender restarted under durability none (new incarnations): sent %ld, applied %ld\n", n,
                node_context_number(&B, "StreamReceiver", receiver, "last"));

        /* the receiving bridge is down and the inbox is small (InboxLimit=5): the sending bridge answers
         * Busy past it, the events wait in the sender's outbox, never dropped, and flow once it is back */
        char conf[400];
        snprintf(conf, sizeof conf, "%s/bridge.conf", dir);
        nodes_run("printf '[Bridge]\\nInboxLimit=5\\n' > %s", conf);
        /* what B's bridge delivered is acknowledged and deleted before it stops (applied is not yet
         * acknowledged: stopped in between, those entries would wait in the inbox, past the limit) */
        for (int k = 0; k < 500 && strtol(redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:inbox"), NULL, 10) > 0; k++)
                usleep(20000);
        assert_int_equal(strtol(redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:inbox"), NULL, 10), 0);
        process_stop(&B.bridge, SIGTERM);
        process_stop(&A.bridge, SIGTERM);
        snprintf(A.config, sizeof A.config, "%s", conf);
        start_bridge(&A, "StreamReceiver");
        snprintf(A.config, sizeof A.config, "%s", empty_config);
        send_numbers(sender, n + 1, n + 20), n += 20;
        long most = 0;
        for (int k = 0; k < 50; k++) {
                most = MAX(most, strtol(redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:inbox"), NULL, 10));
                usleep(20000);
        }
        assert_true(most <= 5);
        assert_true(most > 0);
        start_bridge(&B, "StreamSender");
        assert_int_equal(wait_count(receiver, n, 60), n);
        fprintf(stderr, "# the receiving bridge down, InboxLimit=5 (at most %ld waited in Redis): sent %ld, applied %ld\n",
                most, n, node_context_number(&B, "StreamReceiver", receiver, "last"));

        /* each number once, in order: none applied again or late */
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "last"), n);
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "count"), n);
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "late"), 0);
        free(receiver);
        free(sender);
}

/* Entries not signed by a node this one accepts, or not by the node they
 * name, end in the dead stream and change nothing. */
static void test_forged_entries_go_to_the_dead_stream(void **state) {
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0}");
        char body[512], dead_before[32];

        snprintf(dead_before, sizeof dead_before, "%s", redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:dead"));
        snprintf(body, sizeof body,
                 "'{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"StreamSender\",\"sourceSeq\":999999,"
                 "\"ruleIndex\":0,\"targetComponent\":\"StreamReceiver\",\"targetMachine\":\"Counter\","
                 "\"event\":\"NUM\",\"payload\":{\"n\":1}}'");
        /* no MAC */
        redis_cli(redis_port, "XADD xfsm:{StreamReceiver}:inbox '*' v 1 node nodeA kind routed body %s", body);
        /* a wrong MAC */
        redis_cli(redis_port, "XADD xfsm:{StreamReceiver}:inbox '*' v 1 node nodeA kind routed body %s mac %064d", body, 7);
        /* a node no one knows */
        redis_cli(redis_port, "XADD xfsm:{StreamReceiver}:inbox '*' v 1 node mallory kind routed body %s mac %064d", body, 7);
        long dead = 0;
        for (int k = 0; k < 250 && (dead = strtol(redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:dead"), NULL, 10) -
                                             strtol(dead_before, NULL, 10)) < 3;
             k++)
                usleep(20000);
        assert_int_equal(dead, 3);
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "count"), 0);
        assert_string_equal(redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:inbox"), "0");
        free(receiver);
}

/* A second bridge claiming a live node name with another UUID is refused. */
static void test_duplicate_node_name_is_refused(void **state) {
        char state_dir[400], log[400];
        int status = 0;
        pid_t pid;

        snprintf(state_dir, sizeof state_dir, "%s/impostor", dir);
        snprintf(log, sizeof log, "%s/impostor.log", dir);
        pid = node_spawn_bridge(&A, A.name, state_dir, log);
        for (int k = 0; k < 500 && waitpid(pid, &status, WNOHANG) == 0; k++)
                usleep(20000);
        if (waitpid(pid, &status, WNOHANG) == 0 && kill(pid, 0) == 0) {
                process_stop(&pid, SIGKILL);
                fail_msg("a second bridge for node %s kept running", A.name);
        }
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

/* A worker started on node B for a component homed on node A refuses to
 * serve it, says so, and exits with the status its unit does not restart;
 * it touches no state directory for it. */
static void test_worker_of_a_component_homed_elsewhere_refuses(void **state) {
        char comp[400], st[400], log[400], path[500];
        struct stat sb;
        int status = 0;
        pid_t pid;

        snprintf(comp, sizeof comp, "%s/foreign", B.dir);
        snprintf(st, sizeof st, "%s/foreign-state", B.dir);
        snprintf(log, sizeof log, "%s/foreign.log", B.dir);
        nodes_run("mkdir -p %s && cp %s %s/order.yaml", comp, data("xcomponent/demo-order.yaml"), comp);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", B.address,
                         (char *) "--state-dir", st, (char *) "--component", (char *) "order", NULL };
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && waitpid(pid, &status, WNOHANG) == 0; k++)
                usleep(20000);
        if (kill(pid, 0) == 0 && waitpid(pid, &status, WNOHANG) == 0) {
                process_stop(&pid, SIGKILL);
                fail_msg("a worker for OrderComponent (homed on nodeA) served on nodeB");
        }
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 78);
        snprintf(path, sizeof path, "%s/order", st);
        assert_true(stat(path, &sb) < 0); /* no journal, no state directory for it */
        assert_false(name_has_owner(B.bus, "org.xfsm1.OrderComponent"));
}

/* ---- calls from any node ------------------------------------------------------ */

#define REMOTE "/org/xfsm1/Bridge/PaymentComponent"

/* A call of PaymentComponent (homed on node B) through node A's bridge. */
#define remote_call(method, error, reply, ...) \
        node_remote_call(&A, "PaymentComponent", method, error, reply, __VA_ARGS__)

static int remote_send_ex(const char *id, const char *event, const char *event_id, sd_bus_error *error,
                          char **ret_state) {
        sd_bus_message *m = NULL, *reply = NULL;
        const char *st;
        int r;

        assert_true(sd_bus_message_new_method_call(A.bus, &m, "org.xfsm1.Bridge", REMOTE, "org.xfsm1.Component",
                                                   "SendEx") >= 0);
        assert_true(sd_bus_message_append(m, "sss", id, event, "{}") >= 0);
        assert_true(sd_bus_message_append(m, "a{sv}", 1, "event_id", "s", event_id) >= 0);
        r = sd_bus_call(A.bus, m, 30 * 1000000ULL, error, &reply);
        sd_bus_message_unref(m);
        if (r >= 0 && ret_state) {
                assert_true(sd_bus_message_read(reply, "s", &st) > 0);
                *ret_state = strdup(st);
        }
        sd_bus_message_unref(reply);
        return r;
}

static bool file_contains(const char *path, const char *needle) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "re");
        bool found;

        if (!f)
                return false;
        found = getdelim(&buf, &len, 0, f) > 0 && strstr(buf, needle);
        free(buf);
        fclose(f);
        return found;
}

/* Every Component method of PaymentComponent, homed on node B, called on
 * node A through its bridge: the answers are the home's, the effects happen
 * there once, errors keep their names, the origin is logged on B. */
static void test_calls_from_any_node(void **state) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *path_c, *id_c, *json, *st;
        char *id, *path, *state1 = NULL, *state2 = NULL, log[400], prefix[200];
        uint32_t delivered;
        bool listed = false;

        /* CreateInstance: made on B, its path under A's bridge */
        assert_int_equal(remote_call("CreateInstance", &error, &reply, "ss", "Payment", "{\"orderId\":\"REMOTE-1\"}"), 1);
        assert_true(sd_bus_message_read(reply, "os", &path_c, &id_c) > 0);
        id = strdup(id_c);
        path = strdup(path_c);
        snprintf(prefix, sizeof prefix, REMOTE "/Payment/");
        assert_true(strncmp(path, prefix, strlen(prefix)) == 0);
        reply = sd_bus_message_unref(reply);
        char *on_b = node_state(&B, "PaymentComponent", "Payment", id);
        assert_string_equal(on_b, "Pending");
        free(on_b);

        /* GetInstance, GetContext */
        assert_int_equal(remote_call("GetInstance", &error, &reply, "s", id), 1);
        assert_true(sd_bus_message_read(reply, "s", &json) > 0);
        assert_non_null(strstr(json, "\"machine\":\"Payment\""));
        assert_non_null(strstr(json, "REMOTE-1"));
        reply = sd_bus_message_unref(reply);
        assert_int_equal(remote_call("GetContext", &error, &reply, "s", id), 1);
        assert_true(sd_bus_message_read(reply, "s", &json) > 0);
        assert_non_null(strstr(json, "REMOTE-1"));
        reply = sd_bus_message_unref(reply);

        /* SendEx twice with one event id: one effect, the first answer twice */
        assert_int_equal(remote_send_ex(id, "PROCESS", "remote-once", &error, &state1), 1);
        assert_int_equal(remote_send_ex(id, "PROCESS", "remote-once", &error, &state2), 1);
        assert_string_equal(state1, "Processing");
        assert_string_equal(state2, "Processing");
        assert_int_equal(node_history_length(&B, "PaymentComponent", id), 1);

        /* Send (forwarded as a SendEx with an id made by the bridge) */
        assert_int_equal(remote_call("Send", &error, &reply, "sss", id, "CONFIRM", "{}"), 1);
        assert_true(sd_bus_message_read(reply, "s", &st) > 0);
        assert_string_equal(st, "Completed");
        reply = sd_bus_message_unref(reply);
        assert_int_equal(node_history_length(&B, "PaymentComponent", id), 2);

        /* GetHistory */
        assert_int_equal(remote_call("GetHistory", &error, &reply, "s", id), 1);
        assert_true(sd_bus_message_read(reply, "s", &json) > 0);
        assert_non_null(strstr(json, "CONFIRM"));
        reply = sd_bus_message_unref(reply);

        /* ListInstances: the paths under A's bridge */
        assert_int_equal(remote_call("ListInstances", &error, &reply, "ss", "Payment", ""), 1);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssso)") > 0);
        const char *lid, *lm, *ls, *lp;
        while (sd_bus_message_read(reply, "(ssso)", &lid, &lm, &ls, &lp) > 0)
                if (strcmp(lid, id) == 0) {
                        listed = true;
                        assert_string_equal(ls, "Completed");
                        assert_string_equal(lp, path);
                }
        assert_true(listed);
        reply = sd_bus_message_unref(reply);

        /* Broadcast */
        assert_int_equal(remote_call("Broadcast", &error, &reply, "ssss", "Payment", "Completed", "NOTHING", "{}"), 1);
        assert_true(sd_bus_message_read(reply, "u", &delivered) > 0);
        reply = sd_bus_message_unref(reply);

        /* errors keep their names */
        assert_true(remote_call("Send", &error, &reply, "sss", "no-such-instance", "PROCESS", "{}") < 0);
        assert_string_equal(error.name, "org.xfsm1.Error.NoSuchInstance");
        sd_bus_error_free(&error);
        assert_true(remote_call("Send", &error, &reply, "sss", id, "PROCESS", "{}") < 0);
        assert_string_equal(error.name, "org.xfsm1.Error.NoTransition");
        sd_bus_error_free(&error);
        assert_true(remote_call("CreateInstance", &error, &reply, "ss", "NoSuchMachine", "{}") < 0);
        assert_string_equal(error.name, "org.xfsm1.Error.NoSuchMachine");
        sd_bus_error_free(&error);

        /* the component's properties, as its home has them */
        char *version_a = NULL, *version_b = NULL, *definition = NULL;
        for (int k = 0; k < 100 && !version_a; k++) {
                if (sd_bus_get_property_string(A.bus, "org.xfsm1.Bridge", REMOTE, "org.xfsm1.Component", "Version", NULL,
                                               &version_a) < 0)
                        usleep(50000);
        }
        assert_non_null(version_a);
        assert_true(sd_bus_get_property_string(B.bus, "org.xfsm1.PaymentComponent", "/org/xfsm1/PaymentComponent",
                                               "org.xfsm1.Component", "Version", NULL, &version_b) >= 0);
        assert_string_equal(version_a, version_b);
        assert_true(sd_bus_get_property_string(A.bus, "org.xfsm1.Bridge", REMOTE, "org.xfsm1.Component", "Definition",
                                               NULL, &definition) >= 0);
        assert_non_null(strstr(definition, "PaymentComponent"));
        free(version_a);
        free(version_b);
        free(definition);

        /* the origin, on B */
        snprintf(log, sizeof log, "%s/bridge.log", B.dir);
        assert_true(file_contains(log, "called from node nodeA"));

        free(state1);
        free(state2);
        free(path);
        free(id);
}

/* The home's bridge stopped: a call answers Unavailable; once it is back,
 * the call made meanwhile has no late effect. */
static void test_call_to_a_stopped_home_is_unavailable(void **state) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        char *id = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"REMOTE-2\"}"), *st;
        uint64_t t0;
        struct timespec ts;

        /* A knows the instance's machine first (polkit's details are asked of the home once) */
        assert_int_equal(remote_call("GetInstance", &error, &reply, "s", id), 1);
        reply = sd_bus_message_unref(reply);

        process_stop(&B.bridge, SIGTERM);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t) ts.tv_sec;
        assert_true(remote_call("Send", &error, &reply, "sss", id, "PROCESS", "{}") < 0);
        assert_string_equal(error.name, "org.xfsm1.Error.Unavailable");
        sd_bus_error_free(&error);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        assert_true((uint64_t) ts.tv_sec - t0 <= 15);

        start_bridge(&B, "StreamSender");
        sleep(3);
        st = node_state(&B, "PaymentComponent", "Payment", id);
        assert_string_equal(st, "Pending"); /* no late effect */
        free(st);
        /* and calls go through again */
        for (int k = 0; k < 100; k++) {
                if (remote_call("Send", &error, &reply, "sss", id, "PROCESS", "{}") >= 0)
                        break;
                sd_bus_error_free(&error);
                usleep(100000);
        }
        reply = sd_bus_message_unref(reply);
        st = node_state(&B, "PaymentComponent", "Payment", id);
        assert_string_equal(st, "Processing");
        free(st);
        free(id);
}

/* xfsmd's ListComponentsEx on node A: its own components with its node's
 * name, and those homed on node B with B's name, reached through the
 * bridge, their home alive. */
static void test_list_components_ex(void **state) {
        char comp[400], log[400];
        sd_bus_message *reply = NULL;
        const char *name, *stem, *version, *bus_name, *node;
        int running;
        uint32_t count;
        bool order = false, payment = false;
        pid_t pid;

        snprintf(comp, sizeof comp, "%s/comp", A.dir);
        snprintf(log, sizeof log, "%s/manager.log", A.dir);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", A.address,
                         (char *) "--manager", NULL };
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && !name_has_owner(A.bus, "org.xfsm1"); k++)
                usleep(10000);
        assert_true(sd_bus_call_method(A.bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "ListComponentsEx", NULL,
                                       &reply, "") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssssbus)") > 0);
        while (sd_bus_message_read(reply, "(ssssbus)", &name, &stem, &version, &bus_name, &running, &count, &node) > 0) {
                if (strcmp(name, "OrderComponent") == 0) {
                        order = true;
                        assert_string_equal(node, "nodeA");
                        assert_string_equal(bus_name, "org.xfsm1.OrderComponent");
                        assert_true(running);
                }
                if (strcmp(name, "PaymentComponent") == 0) {
                        payment = true;
                        assert_string_equal(node, "nodeB");
                        assert_string_equal(bus_name, "org.xfsm1.Bridge");
                        assert_true(running); /* its home is alive */
                }
        }
        assert_true(order);
        assert_true(payment);
        sd_bus_message_unref(reply);
        int status = process_stop(&pid, SIGTERM);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Every xfsmctl verb on node A for PaymentComponent, homed on node B. */
static void test_xfsmctl_verbs_reach_other_nodes(void **state) {
        char args[300], id[128] = "", *out;
        int status;

        out = node_xfsmctl(&A, &status, "create PaymentComponent Payment --context '{\"orderId\":\"CTL-1\"}'");
        assert_int_equal(status, 0);
        sscanf(out, "%127s", id);
        free(out);
        assert_true(strlen(id) > 0);

        snprintf(args, sizeof args, "send PaymentComponent %s PROCESS", id);
        out = node_xfsmctl(&A, &status, args);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "Processing"));
        free(out);

        snprintf(args, sizeof args, "show PaymentComponent %s", id);
        out = node_xfsmctl(&A, &status, args);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "Processing"));
        assert_non_null(strstr(out, "CTL-1"));
        free(out);

        snprintf(args, sizeof args, "history PaymentComponent %s", id);
        out = node_xfsmctl(&A, &status, args);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "Pending -> Processing on PROCESS"));
        free(out);

        out = node_xfsmctl(&A, &status, "instances PaymentComponent");
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, id));
        free(out);

        out = node_xfsmctl(&A, &status, "list");
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "PaymentComponent"));
        assert_non_null(strstr(out, "nodeB"));
        assert_non_null(strstr(out, "remote"));
        free(out);

        /* and the errors the home gives */
        snprintf(args, sizeof args, "send PaymentComponent %s PROCESS", id);
        out = node_xfsmctl(&A, &status, args);
        assert_int_not_equal(status, 0);
        assert_non_null(strstr(out, "NoTransition"));
        free(out);
}

/* The bridge for operators: status, the dead stream listed and replayed. */
static void test_bridge_status_and_dead_entries(void **state) {
        char *out, *p;
        int status;
        unsigned replayed = 0;

        out = node_xfsmctl(&A, &status, "bridge status");
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "Node nodeA"));
        assert_non_null(strstr(out, "nodeB"));
        assert_non_null(strstr(out, "PaymentComponent"));
        free(out);
        out = node_xfsmctl(&B, &status, "bridge status --json");
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "\"node\":\"nodeB\""));
        assert_non_null(strstr(out, "\"name\":\"StreamSender\",\"home\":\"nodeA\""));
        free(out);

        /* the forged entries of the test before are dead on B */
        out = node_xfsmctl(&B, &status, "bridge dead list StreamReceiver");
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "bad-mac"));
        free(out);
        out = node_xfsmctl(&B, &status, "bridge dead replay StreamReceiver --json");
        assert_int_equal(status, 0);
        assert_non_null(p = strstr(out, "\"replayed\":"));
        replayed = (unsigned) strtoul(p + strlen("\"replayed\":"), NULL, 10);
        assert_true(replayed > 0);
        free(out);
        /* replayed, they fail their checks again: back in the dead stream, nothing applied */
        for (int k = 0; k < 100; k++) {
                char *n = redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:dead");
                if ((unsigned) atoi(n) >= replayed)
                        break;
                usleep(50000);
        }
        assert_true((unsigned) atoi(redis_cli(redis_port, "XLEN xfsm:{StreamReceiver}:dead")) >= replayed);

        /* a component not homed here cannot be released here */
        out = node_xfsmctl(&A, &status, "bridge release PaymentComponent");
        assert_int_not_equal(status, 0);
        free(out);

        /* decommissioning: refused for a live node, done for one gone for good */
        out = node_xfsmctl(&A, &status, "bridge decommission nodeB");
        assert_int_not_equal(status, 0);
        free(out);
        redis_cli(redis_port, "SADD xfsm:nodes ghost");
        redis_cli(redis_port, "XADD xfsm:node:{ghost}:replies '*' a b");
        out = node_xfsmctl(&A, &status, "bridge decommission ghost");
        assert_int_equal(status, 0);
        free(out);
        assert_string_equal(redis_cli(redis_port, "SISMEMBER xfsm:nodes ghost"), "0");
        assert_string_equal(redis_cli(redis_port, "EXISTS xfsm:node:{ghost}:replies"), "0");
        assert_string_equal(redis_cli(redis_port, "SISMEMBER xfsm:nodes nodeB"), "1");
}

/* A listing larger than one reply entry comes back whole, in parts. */
static void test_large_answers_are_split(void **state) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned n = 0;

        for (int k = 0; k < 1100; k++)
                free(node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"MANY\"}"));
        assert_int_equal(remote_call("ListInstances", &error, &reply, "ss", "Payment", "Pending"), 1);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssso)") > 0);
        while (sd_bus_message_skip(reply, "(ssso)") > 0)
                n++;
        sd_bus_message_unref(reply);
        assert_true(n >= 1100);
}

/* ---- the settings and components read again, without a restart ------------------- */

/* The routed events component's worker on node has yet to hand over (OutboxPending); -1 when not asked. */
static long outbox_pending(Node *n, const char *component) {
        char bn[128], path[128];
        uint32_t v = 0;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_get_property_trivial(n->bus, bn, path, "org.xfsm1.Component", "OutboxPending", NULL, 'u', &v) < 0)
                return -1;
        return v;
}

/* How many times path holds needle. */
static int file_count(const char *path, const char *needle) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "re");
        int n = 0;

        if (!f)
                return 0;
        if (getdelim(&buf, &len, 0, f) > 0)
                for (const char *p = buf; (p = strstr(p, needle)); p += strlen(needle))
                        n++;
        free(buf);
        fclose(f);
        return n;
}

/* Wait up to seconds for path to hold needle. */
static bool wait_file_contains(const char *path, const char *needle, int seconds) {
        for (int k = 0; k < seconds * 20 && !file_contains(path, needle); k++)
                usleep(50000);
        return file_contains(path, needle);
}

/* Wait up to seconds for `xfsmctl bridge status` (with args) on node to print needle. */
static bool wait_status(Node *n, const char *args, const char *needle, int seconds) {
        bool found = false;
        int status;

        for (int k = 0; k < seconds * 10 && !found; k++) {
                char *out = node_xfsmctl(n, &status, args);
                found = status == 0 && strstr(out, needle);
                free(out);
                if (!found)
                        usleep(100000);
        }
        return found;
}

/* systemctl reload (SIGHUP): InboxLimit=, MinReplicas= and WaitMs= of the
 * changed bridge.conf take effect in the running bridge (xfsmctl bridge
 * status shows them, and a Deliver waits for a replica this Redis does not
 * have: the event stays in the sender's outbox); a bridge.conf with a bad
 * value is refused with FILE:LINE and the settings stay; back to
 * MinReplicas=0, the waiting event goes, and takes effect once. */
static void test_reload_changes_settings_without_a_restart(void **state) {
        char conf[400], log[400], needle[512];
        char *receiver = node_create(&B, "StreamReceiver", "Counter", "{\"last\":0,\"count\":0,\"late\":0}");
        char *sender = node_create(&A, "StreamSender", "Sender", "{}");
        pid_t bridge;
        long n = 0;

        snprintf(conf, sizeof conf, "%s/reload.conf", dir);
        snprintf(log, sizeof log, "%s/bridge.log", A.dir);
        nodes_run("printf '[Bridge]\\nInboxLimit=1000\\n' > %s", conf);
        process_stop(&A.bridge, SIGTERM);
        snprintf(A.config, sizeof A.config, "%s", conf);
        start_bridge(&A, "StreamReceiver");
        bridge = A.bridge;
        assert_true(wait_status(&A, "bridge status --json",
                                "\"settings\":{\"inboxLimit\":1000,\"minReplicas\":0,\"waitMs\":1000}", 5));
        send_numbers(sender, n + 1, n + 5), n += 5;
        assert_int_equal(wait_count(receiver, n, 20), n);

        /* MinReplicas=1 against a Redis without replicas: every Deliver is answered Unavailable */
        nodes_run("printf '[Bridge]\\nInboxLimit=1000\\nMinReplicas=1\\nWaitMs=100\\n' > %s", conf);
        assert_int_equal(kill(A.bridge, SIGHUP), 0);
        assert_true(wait_file_contains(log, "Reloaded: InboxLimit=1000 MinReplicas=1 WaitMs=100", 5));
        assert_true(wait_status(&A, "bridge status", "Settings: InboxLimit=1000 MinReplicas=1 WaitMs=100", 5));
        send_numbers(sender, n + 1, n + 1), n += 1;
        assert_true(wait_file_contains(log, "WAIT 1: fewer replicas confirmed within 100 ms", 10));
        /* in the stream already (and so applied), but not confirmed: the sender keeps it and retries */
        assert_int_equal(wait_count(receiver, n, 20), n);
        assert_true(outbox_pending(&A, "StreamSender") >= 1);

        /* a bad value: refused, with where and why; nothing changes, not even the good lines */
        nodes_run("printf '[Bridge]\\nMinReplicas=0\\nWaitMs=0\\nInboxLimit=7\\n' > %s", conf);
        assert_int_equal(kill(A.bridge, SIGHUP), 0);
        snprintf(needle, sizeof needle, "%s:3: WaitMs= needs a number from 1 to 3600000, not '0'", conf);
        assert_true(wait_file_contains(log, needle, 5));
        assert_true(wait_file_contains(log, "bridge.conf cannot be read: the settings stay as they were", 5));
        assert_true(wait_status(&A, "bridge status --json",
                                "\"settings\":{\"inboxLimit\":1000,\"minReplicas\":1,\"waitMs\":100}", 5));
        assert_true(outbox_pending(&A, "StreamSender") >= 1);
        assert_int_equal(A.bridge, bridge);
        assert_int_equal(waitpid(A.bridge, NULL, WNOHANG), 0); /* still running */

        /* MinReplicas=0 again: the waiting event goes (the sender retries), and the next */
        nodes_run("printf '[Bridge]\\nInboxLimit=1000\\n' > %s", conf);
        assert_int_equal(kill(A.bridge, SIGHUP), 0);
        assert_true(wait_status(&A, "bridge status --json",
                                "\"settings\":{\"inboxLimit\":1000,\"minReplicas\":0,\"waitMs\":1000}", 5));
        for (int k = 0; k < 300 && outbox_pending(&A, "StreamSender") != 0; k++)
                usleep(100000);
        assert_int_equal(outbox_pending(&A, "StreamSender"), 0);
        send_numbers(sender, n + 1, n + 1), n += 1;
        assert_int_equal(wait_count(receiver, n, 20), n);
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "last"), n);
        assert_int_equal(node_context_number(&B, "StreamReceiver", receiver, "late"), 0);
        assert_int_equal(A.bridge, bridge);
        free(receiver);
        free(sender);
}

/* The line of `xfsmctl list` on node for component ("" when it is not listed; static). */
static const char *list_line(Node *n, const char *component) {
        static char line[512];
        char *out, *p, *e;
        int status;

        line[0] = 0;
        out = node_xfsmctl(n, &status, "list");
        assert_int_equal(status, 0);
        for (p = out; p && *p; p = e ? e + 1 : NULL) {
                e = strchr(p, '\n');
                size_t l = strlen(component);
                if (strncmp(p, component, l) == 0 && (p[l] == ' ' || p[l] == '\t')) {
                        snprintf(line, sizeof line, "%.*s", e ? (int) (e - p) : (int) strlen(p), p);
                        break;
                }
        }
        free(out);
        return line;
}

/* A component installed on node B while the bridges run: B's bridge reads
 * the components again on reload (SIGHUP) and claims it, node A learns it
 * from B's heartbeat (listed homed on B) and reaches it through its bridge.
 * Released on B and removed there, node A forgets it. */
static void test_components_installed_and_removed_are_noticed(void **state) {
        char comp[400], st[400], log[400], args[300], id[128] = "", *out, *s;
        int status;
        pid_t worker;

        assert_false(node_bridge_knows(&A, "Toggle"));
        assert_string_equal(list_line(&A, "Toggle"), "");

        /* installed on B, no worker started yet: the reload makes B's bridge claim it */
        nodes_run("cp %s %s/comp/toggle.yaml", data("toggle.yaml"), B.dir);
        assert_int_equal(kill(B.bridge, SIGHUP), 0);
        node_wait_bridge(&A, "Toggle", 1000);
        assert_non_null(strstr(list_line(&A, "Toggle"), "nodeB"));
        assert_true(wait_status(&A, "bridge status --json", "\"name\":\"Toggle\",\"home\":\"nodeB\"", 5));

        /* its worker on B; node A creates and sends through its bridge */
        snprintf(comp, sizeof comp, "%s/comp", B.dir);
        snprintf(st, sizeof st, "%s/state", B.dir);
        snprintf(log, sizeof log, "%s/toggle.log", B.dir);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", B.address,
                         (char *) "--durability", (char *) "batch", (char *) "--state-dir", st,
                         (char *) "--component", (char *) "toggle", NULL };
        worker = spawn(argv, log);
        assert_true(wait_name(B.bus, "org.xfsm1.Toggle", true));
        out = node_xfsmctl(&A, &status, "create Toggle Switch");
        assert_int_equal(status, 0);
        sscanf(out, "%127s", id);
        free(out);
        snprintf(args, sizeof args, "send Toggle %s TOGGLE", id);
        out = node_xfsmctl(&A, &status, args);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "On"));
        free(out);
        s = node_state(&B, "Toggle", "Switch", id);
        assert_string_equal(s, "On");
        free(s);

        /* retired on B: released, its worker stopped, its file removed, the bridge reloaded */
        out = node_xfsmctl(&B, &status, "bridge release Toggle");
        assert_int_equal(status, 0);
        free(out);
        status = process_stop(&worker, SIGTERM);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        nodes_run("rm %s/comp/toggle.yaml", B.dir);
        assert_int_equal(kill(B.bridge, SIGHUP), 0);
        for (int k = 0; k < 1000 && node_bridge_knows(&A, "Toggle"); k++)
                usleep(10000);
        assert_false(node_bridge_knows(&A, "Toggle"));
        assert_string_equal(list_line(&A, "Toggle"), "");
        snprintf(args, sizeof args, "send Toggle %s TOGGLE", id);
        out = node_xfsmctl(&A, &status, args);
        assert_int_not_equal(status, 0);
        free(out);
        /* nor listed by B's bridge as installed there */
        assert_false(node_home_here(&B, "Toggle", NULL, 0));

        /* installed on A too, A's bridge reloaded: not claimed by the claim of every home (a reload, a
         * reconnection), which another node taking the hand-over must not lose to ... */
        char log_a[400];
        int reloads;
        snprintf(log_a, sizeof log_a, "%s/bridge.log", A.dir);
        reloads = file_count(log_a, "Reloaded:");
        nodes_run("cp %s %s/comp/toggle.yaml", data("toggle.yaml"), A.dir);
        assert_int_equal(kill(A.bridge, SIGHUP), 0);
        for (int k = 0; k < 100 && file_count(log_a, "Reloaded:") == reloads; k++)
                usleep(50000);
        assert_int_equal(file_count(log_a, "Reloaded:"), reloads + 1);
        out = node_xfsmctl(&A, &status, "bridge status"); /* after the reload's commands on the same connection */
        assert_int_equal(status, 0);
        free(out);
        assert_string_equal(redis_cli(redis_port, "EXISTS xfsm:{Toggle}:home"), "0");
        /* ... only when its worker asks, as on the node taking a hand-over */
        assert_true(node_home_here(&A, "Toggle", NULL, 0));
        nodes_run("rm %s/comp/toggle.yaml", A.dir);
}

/* The hand-over: StreamSender released on node A, its state directory
 * moved to node B, started there: its instance and its timer continue on
 * B, and A learns the new home. */
static void test_hand_over(void **state) {
        char comp[400], st[400], log[400], home[64] = "";
        char *delayed = node_create(&A, "StreamSender", "Delayed", "{}"), *out, *s = NULL;
        int status;
        pid_t sender;

        out = node_xfsmctl(&A, &status, "bridge release StreamSender");
        assert_int_equal(status, 0);
        free(out);
        assert_false(node_home_here(&A, "StreamSender", NULL, 0));

        /* A's worker goes (it would refuse StreamSender now: it serves OrderComponent alone) */
        process_stop(&A.xfsmd, SIGTERM);
        nodes_run("mv %s/state/sender %s/state/sender && cp %s %s/comp/sender.yaml", A.dir, B.dir, data("stream-sender.yaml"),
            B.dir);
        nodes_run("rm %s/comp/sender.yaml", A.dir);
        {
                char acomp[400], astate[400], alog[400];
                snprintf(acomp, sizeof acomp, "%s/comp", A.dir);
                snprintf(astate, sizeof astate, "%s/state", A.dir);
                snprintf(alog, sizeof alog, "%s/xfsmd-2.log", A.dir);
                setenv("XFSM_COMPONENT_PATH", acomp, 1);
                char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", A.address,
                                 (char *) "--durability", (char *) "batch", (char *) "--state-dir", astate,
                                 (char *) "--component", (char *) "order", NULL };
                A.xfsmd = spawn(argv, alog);
        }

        /* B takes it */
        snprintf(comp, sizeof comp, "%s/comp", B.dir);
        snprintf(st, sizeof st, "%s/state", B.dir);
        snprintf(log, sizeof log, "%s/sender.log", B.dir);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", B.address,
                         (char *) "--durability", (char *) "batch", (char *) "--state-dir", st,
                         (char *) "--component", (char *) "sender", NULL };
        sender = spawn(argv, log);
        for (int k = 0; k < 500 && !name_has_owner(B.bus, "org.xfsm1.StreamSender"); k++)
                usleep(10000);
        assert_true(name_has_owner(B.bus, "org.xfsm1.StreamSender"));
        assert_true(node_home_here(&B, "StreamSender", NULL, 0));

        /* the instance is there, and its timer rings there */
        for (int k = 0; k < 500; k++) {
                free(s);
                s = node_state(&B, "StreamSender", "Delayed", delayed);
                if (strcmp(s, "Done") == 0)
                        break;
                usleep(20000);
        }
        assert_string_equal(s, "Done");
        free(s);

        /* A learns the new home from B's heartbeat */
        for (int k = 0; k < 100 && strcmp(home, "nodeB") != 0; k++) {
                (void) node_home_here(&A, "StreamSender", home, sizeof home);
                usleep(100000);
        }
        assert_string_equal(home, "nodeB");

        status = process_stop(&sender, SIGTERM);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(delayed);
}

typedef struct Seen {
        char path[300], to[64];
        int n;
} Seen;

static int on_relayed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Seen *seen = userdata;
        const char *from, *to, *event, *corr;

        if (sd_bus_message_read(m, "ssss", &from, &to, &event, &corr) > 0) {
                snprintf(seen->path, sizeof seen->path, "%s", sd_bus_message_get_path(m));
                snprintf(seen->to, sizeof seen->to, "%s", to);
                seen->n++;
        }
        return 0;
}

/* A transition on node B shows on node A as a Transition signal under the
 * bridge's object for the component (xfsmctl watch follows it there). */
static void test_transitions_of_other_nodes_are_relayed(void **state) {
        char *id = node_create(&B, "PaymentComponent", "Payment", "{\"orderId\":\"WATCH-1\"}");
        Seen seen = {};
        sd_bus_slot *slot = NULL;
        char want[300], *escaped = NULL;

        assert_true(sd_bus_add_match(A.bus, &slot,
                                     "type='signal',sender='org.xfsm1.Bridge',interface='org.xfsm1.Instance',"
                                     "member='Transition',path_namespace='/org/xfsm1/Bridge/PaymentComponent'",
                                     on_relayed, &seen) >= 0);
        /* the subscription is made when the bridge learns the home: long done; send until one shows */
        for (int k = 0; k < 50 && seen.n == 0; k++) {
                if (k == 0)
                        assert_int_equal(node_send(&B, "PaymentComponent", id, "PROCESS", "{}"), 0);
                for (int j = 0; j < 10 && seen.n == 0; j++) {
                        while (sd_bus_process(A.bus, NULL) > 0)
                                ;
                        (void) sd_bus_wait(A.bus, 20000);
                }
        }
        assert_int_equal(seen.n, 1);
        assert_true(sd_bus_path_encode("/org/xfsm1/Bridge/PaymentComponent/Payment", id, &escaped) >= 0);
        snprintf(want, sizeof want, "%s", escaped);
        assert_string_equal(seen.path, want);
        assert_string_equal(seen.to, "Processing");
        sd_bus_slot_unref(slot);
        free(escaped);
        free(id);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cascade_crosses_nodes),
                cmocka_unit_test(test_calls_from_any_node),
                cmocka_unit_test(test_list_components_ex),
                cmocka_unit_test(test_transitions_of_other_nodes_are_relayed),
                cmocka_unit_test(test_xfsmctl_verbs_reach_other_nodes),
                cmocka_unit_test(test_call_to_a_stopped_home_is_unavailable),
                cmocka_unit_test(test_forged_entries_go_to_the_dead_stream),
                cmocka_unit_test(test_duplicate_node_name_is_refused),
                cmocka_unit_test(test_worker_of_a_component_homed_elsewhere_refuses),
                cmocka_unit_test(test_stream_exactly_once_through_faults),
                cmocka_unit_test(test_bridge_status_and_dead_entries),
                cmocka_unit_test(test_large_answers_are_split),
                cmocka_unit_test(test_reload_changes_settings_without_a_restart),
                cmocka_unit_test(test_components_installed_and_removed_are_noticed),
                cmocka_unit_test(test_hand_over),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
