/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-http on node A serving a component homed on node B: two nodes
 * (private buses, xfsmd, xfsm-redis-bridge) joined through a real
 * redis-server on a free loopback port, xfsm-http on node A. The remote
 * component is listed with its node, created, read, sent an event and
 * followed on the event stream through node A's bridge
 * (/org/xfsm1/Bridge/C), exactly as a local one. Exit 77 without
 * redis-server. */

#include <arpa/inet.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "http-client.h"

typedef struct Node {
        const char *name, *stem, *file, *component;
        char dir[300], address[512];
        sd_bus *bus;
        pid_t broker, xfsmd, bridge;
} Node;

static char dir[256];
static unsigned redis_port, http_port;
static pid_t redis_pid, http_pid;
static Node A = { .name = "nodeA", .stem = "order", .file = "xcomponent/demo-order.yaml", .component = "OrderComponent" };
static Node B = { .name = "nodeB", .stem = "payment", .file = "xcomponent/demo-payment.yaml",
                  .component = "PaymentComponent" };

static void run(const char *fmt, ...) {
        char cmd[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        assert_int_equal(system(cmd), 0);
}

static bool redis_ping(void) {
        char cmd[128], out[64] = "";
        FILE *p;

        snprintf(cmd, sizeof cmd, "redis-cli -p %u PING 2>/dev/null", redis_port);
        p = popen(cmd, "re");
        if (!p)
                return false;
        if (!fgets(out, sizeof out, p))
                out[0] = '\0';
        pclose(p);
        return strncmp(out, "PONG", 4) == 0;
}

static const char *bridge_bin(void) {
        return env_or("XFSM_BRIDGE", "build/daemon/bridge/xfsm-redis-bridge");
}

static bool bridge_knows(Node *n, const char *remote) {
        sd_bus_message *reply = NULL;
        const char *xml;
        char needle[128];
        bool found = false;

        if (sd_bus_call_method(n->bus, "org.xfsm1.Bridge", "/org/xfsm1/Bridge", "org.freedesktop.DBus.Introspectable",
                               "Introspect", NULL, &reply, "") < 0)
                return false;
        snprintf(needle, sizeof needle, "<node name=\"%s\"", remote);
        if (sd_bus_message_read(reply, "s", &xml) > 0)
                found = strstr(xml, needle) != NULL;
        sd_bus_message_unref(reply);
        return found;
}

static void node_start(Node *n) {
        char comp[400], state[400], log[400], bus_name[128];

        snprintf(n->dir, sizeof n->dir, "%s/%s", dir, n->name);
        run("mkdir -p %s/comp %s/state %s/bridge-state %s/nodes.d", n->dir, n->dir, n->dir, dir);
        run("cp %s %s/comp/%s.yaml", data(n->file), n->dir, n->stem);
        run("%s --generate-key %s/key > /dev/null && cp %s/key.pub %s/nodes.d/%s.pub", bridge_bin(), n->dir, n->dir, dir,
            n->name);
        n->broker = private_bus_start(n->dir, n->address, sizeof n->address, &n->bus);
        assert_true(n->broker > 0);

        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(state, sizeof state, "%s/state", n->dir);
        snprintf(log, sizeof log, "%s/xfsmd.log", n->dir);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        {
                char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", n->address,
                                 (char *) "--manager", (char *) "--state-dir", state, (char *) "--component",
                                 (char *) n->stem, NULL };

                n->xfsmd = spawn(argv, log);
        }
        snprintf(bus_name, sizeof bus_name, "org.xfsm1.%s", n->component);
        assert_true(wait_name(n->bus, bus_name, true));
        assert_true(wait_name(n->bus, "org.xfsm1", true));
}

static void bridge_start(Node *n) {
        char comp[400], log[400], nodes[400], key[400], url[64], state[400], conf[400];

        snprintf(comp, sizeof comp, "%s/comp", n->dir);
        snprintf(nodes, sizeof nodes, "%s/nodes.d", dir);
        snprintf(key, sizeof key, "%s/key.key", n->dir);
        snprintf(url, sizeof url, "redis://127.0.0.1:%u", redis_port);
        snprintf(state, sizeof state, "%s/bridge-state", n->dir);
        snprintf(log, sizeof log, "%s/bridge.log", n->dir);
        snprintf(conf, sizeof conf, "%s/bridge.conf", dir);
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        {
                char *argv[] = { (char *) bridge_bin(), (char *) "--bus-address", n->address, (char *) "--node",
                                 (char *) n->name, (char *) "--redis", url, (char *) "--state-dir", state,
                                 (char *) "--nodes-dir", nodes, (char *) "--node-key", key, (char *) "--config", conf,
                                 NULL };

                n->bridge = spawn(argv, log);
        }
}

static int setup(void **state) {
        char rdir[400], log[400], port[16], conf[400], listen[64];

        if (access("/usr/bin/redis-server", X_OK) < 0 || access("/usr/bin/redis-cli", X_OK) < 0) {
                print_message("SKIPPED: redis-server is not installed\n");
                exit(77);
        }
        snprintf(dir, sizeof dir, "/tmp/xfsm-http-remote-XXXXXX");
        assert_non_null(mkdtemp(dir));

        redis_port = http_free_port();
        snprintf(port, sizeof port, "%u", redis_port);
        snprintf(rdir, sizeof rdir, "%s/redis", dir);
        snprintf(log, sizeof log, "%s/redis.log", dir);
        mkdir(rdir, 0755);
        {
                char *argv[] = { (char *) "/usr/bin/redis-server", (char *) "--port", port, (char *) "--bind",
                                 (char *) "127.0.0.1", (char *) "--dir", rdir, (char *) "--save", (char *) "",
                                 (char *) "--appendonly", (char *) "yes", (char *) "--appendfsync",
                                 (char *) "always", (char *) "--maxmemory-policy", (char *) "noeviction", NULL };

                redis_pid = spawn(argv, log);
        }
        for (int k = 0; k < 500 && !redis_ping(); k++)
                usleep(10000);
        assert_true(redis_ping());

        snprintf(conf, sizeof conf, "%s/bridge.conf", dir);
        run("printf '[Bridge]\\n' > %s", conf);
        node_start(&A);
        node_start(&B);
        bridge_start(&A);
        bridge_start(&B);
        for (int k = 0; k < 1000 && !(bridge_knows(&A, "PaymentComponent") && bridge_knows(&B, "OrderComponent")); k++)
                usleep(10000);
        assert_true(bridge_knows(&A, "PaymentComponent"));

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

static void stop(pid_t pid) {
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
}

static int teardown(void **state) {
        char cmd[600];

        stop(http_pid);
        for (Node *n = &A; n; n = n == &A ? &B : NULL) {
                stop(n->bridge);
                stop(n->xfsmd);
                sd_bus_flush_close_unref(n->bus);
                stop(n->broker);
        }
        stop(redis_pid);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                (void) system(cmd);
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
