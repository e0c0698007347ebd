/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-http on node A serving a component homed on node B: two nodes
 * (private buses, xfsmd, xfsm-redis-bridge) joined through a real
 * redis-server on a free loopback port, xfsm-http on node A. The remote
 * component is listed with its node, created, read, sent an event and
 * followed on the event stream through node A's bridge
 * (/org/xfsm1/Bridge/C), exactly as a local one. Exit 77 without
 * redis-server. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "nodes.h"
#include "http-client.h"

static char dir[256], nodes_dir[300];
static int redis_port;
static unsigned http_port;
static pid_t redis_pid, http_pid;
static Node A = { .name = "nodeA", .files = { "xcomponent/demo-order.yaml" }, .stems = { "order" } };
static Node B = { .name = "nodeB", .files = { "xcomponent/demo-payment.yaml" }, .stems = { "payment" } };

/* n set up, its xfsmd (the manager and its component) on the bus */
static void node_start(Node *n, const char *component) {
        char *options[] = { (char *) "--manager", NULL };
        char bus_name[128];

        node_setup(n, dir, nodes_dir);
        snprintf(n->redis_url, sizeof n->redis_url, "redis://127.0.0.1:%d", redis_port);
        snprintf(n->config, sizeof n->config, "%s/bridge.conf", dir);
        n->xfsmd = node_spawn_xfsmd(n, options, NULL);
        assert_true(n->xfsmd > 0);
        snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", component);
        assert_true(wait_name(n->bus, bus_name, true));
        assert_true(wait_name(n->bus, "org.xfsm1", true));
}

static void bridge_start(Node *n) {
        n->bridge = node_spawn_bridge(n, NULL, NULL, NULL);
        assert_true(n->bridge > 0);
}

static int setup(void **state) {
        char log[400], listen[64];

        if (access("/usr/bin/redis-server", X_OK) < 0 || access("/usr/bin/redis-cli", X_OK) < 0) {
                print_message("SKIPPED: redis-server is not installed\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-http-remote-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(nodes_dir, sizeof nodes_dir, "%s/nodes.d", dir);

        redis_port = nodes_free_port();
        redis_pid = redis_server_start(dir, "redis", redis_port, true, NULL);

        nodes_run("printf '[Bridge]\\n' > %s/bridge.conf", dir);
        node_start(&A, "OrderComponent");
        node_start(&B, "PaymentComponent");
        bridge_start(&A);
        bridge_start(&B);
        for (int k = 0; k < 1000 && !(node_bridge_knows(&A, "PaymentComponent") && node_bridge_knows(&B, "OrderComponent"));
             k++)
                usleep(10000);
        assert_true(node_bridge_knows(&A, "PaymentComponent"));

        http_port = http_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%u", http_port);
        snprintf(log, sizeof log, "%s/http.log", dir);
        {
                char *argv[] = { (char *) env_or("XFSM_HTTP", "build/daemon/http/xfsm-http"), (char *) "--bus-address",
                                 A.address, (char *) "--listen", listen, (char *) "--config", (char *) "/dev/null",
                                 (char *) "--anonymous-write", NULL };

                http_pid = spawn(argv, log);
        }
        assert_true(http_wait_ready(http_port));
        return 0;
}

static int teardown(void **state) {
        process_stop(&http_pid, SIGTERM);
        (void) node_stop(&A);
        (void) node_stop(&B);
        process_stop(&redis_pid, SIGTERM);
        nodes_remove(dir);
        return 0;
}

static json_object *get_json(const char *path, int status) {
        HttpAnswer a = {};
        json_object *o;

        assert_int_equal(http_request(http_port, "GET", path, NULL, NULL, &a), 0);
        if (a.status != status)
                fail_msg("GET %s: %d, wanted %d: %s", path, a.status, status, a.body);
        o = json_tokener_parse(a.body);
        assert_non_null(o);
        http_answer_done(&a);
        return o;
}

static const char *str(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static void test_remote_component(void **state) {
        json_object *o, *list, *i;
        char path[256], *id, *line;
        HttpAnswer a = {}, head = {};
        bool order = false, payment = false, seen = false;
        int fd;

        /* listed, each with its node */
        o = get_json("/api/components", 200);
        assert_true(json_object_object_get_ex(o, "components", &list));
        for (size_t k = 0; k < json_object_array_length(list); k++) {
                json_object *c = json_object_array_get_idx(list, k);

                if (strcmp(str(c, "name"), "PaymentComponent") == 0) {
                        payment = true;
                        assert_string_equal(str(c, "node"), "nodeB");
                } else if (strcmp(str(c, "name"), "OrderComponent") == 0) {
                        order = true;
                        assert_string_equal(str(c, "node"), "nodeA");
                }
        }
        assert_true(order && payment);
        json_object_put(o);

        /* the stream of the remote component */
        fd = http_stream_open(http_port, "/api/events?component=PaymentComponent", NULL, &head);
        assert_true(fd >= 0);
        assert_int_equal(head.status, 200);
        http_answer_done(&head);

        /* created on node B through node A */
        assert_int_equal(http_post_json(http_port, "/api/components/PaymentComponent/instances", NULL,
                                        "{\"machineName\":\"Payment\",\"context\":{\"orderId\":\"ORD-R\"}}", &a), 0);
        if (a.status != 200)
                fail_msg("create: %d %s", a.status, a.body);
        o = json_tokener_parse(a.body);
        id = strdup(str(o, "instanceId"));
        json_object_put(o);
        http_answer_done(&a);

        /* read, sent an event, read again */
        snprintf(path, sizeof path, "/api/instances/%s", id);
        o = get_json(path, 200);
        assert_true(json_object_object_get_ex(o, "instance", &i));
        assert_string_equal(str(i, "componentName"), "PaymentComponent");
        assert_string_equal(str(i, "currentState"), "Pending");
        json_object_put(o);

        snprintf(path, sizeof path, "/api/instances/%s/events", id);
        assert_int_equal(http_post_json(http_port, path, NULL, "{\"type\":\"PROCESS\"}", &a), 0);
        if (a.status != 200)
                fail_msg("event: %d %s", a.status, a.body);
        o = json_tokener_parse(a.body);
        assert_string_equal(str(o, "state"), "Processing");
        json_object_put(o);
        http_answer_done(&a);

        snprintf(path, sizeof path, "/api/instances/%s/history", id);
        o = get_json(path, 200);
        if (!strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "\"stateAfter\":\"Processing\""))
                fail_msg("history: %s", json_object_to_json_string(o));
        json_object_put(o);

        /* listed among the node's instances */
        o = get_json("/api/instances", 200);
        assert_non_null(strstr(json_object_to_json_string(o), id));
        json_object_put(o);

        /* the transition on node B reached node A's event stream */
        while (!seen && (line = http_stream_next(fd, 10000))) {
                if (strstr(line, id) && strstr(line, "\"to\":\"Processing\""))
                        seen = true;
                free(line);
        }
        assert_true(seen);
        http_stream_close(fd);
        free(id);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_remote_component),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
