/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsm-http against a real, private dbus-daemon and a real xfsmd hosting
 * the demo Order and Payment components: every route, every status, every
 * error, the lenient and strict answers to an event with no transition,
 * tokens and scopes, anonymous loopback, a wrong Host, a foreign Origin, a
 * form-encoded POST, a body over 1 MiB, the event stream, the dashboard's
 * session cookie, an AccessDenied from the daemon (xfsm-http run as another
 * user with no polkit to ask), answers while a bus call waits (xfsmd
 * stopped), and 1,000 concurrent connections refused gracefully past the
 * limit. No mocks. Three xfsm-http processes: A (anonymous write,
 * lenient), B (tokens, strict, low limits), C (as user nobody). */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "http-client.h"

#define READ_TOKEN "read-token-0123456789abcdef"
#define WRITE_TOKEN "write-token-0123456789abcdef"

static char dir[256], address[512];
static pid_t broker_pid, daemon_pid, http_a, http_b, http_c;
static unsigned port_a, port_b, port_c;
static sd_bus *bus;

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void copy_file(const char *from, const char *to) {
        char cmd[2048];

        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
        assert_int_equal(system(cmd), 0);
}

/* xfsm-http on port with these extra arguments; as uid and gid (0: as we are) */
static pid_t start_http(unsigned port, const char *name, const char *config, bool anonymous_write, uid_t uid,
                        gid_t gid) {
        char listen[64], log[512];
        char *argv[12] = {};
        int n = 0;
        pid_t pid;

        snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
        snprintf(log, sizeof log, "%s/http-%s.log", dir, name);
        argv[n++] = (char *) env_or("XFSM_HTTP", "build/daemon/http/xfsm-http");
        argv[n++] = (char *) "--bus-address";
        argv[n++] = address;
        argv[n++] = (char *) "--listen";
        argv[n++] = listen;
        argv[n++] = (char *) "--config";
        argv[n++] = (char *) config;
        if (anonymous_write)
                argv[n++] = (char *) "--anonymous-write";

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
                        _exit(126);
                execv(argv[0], argv);
                _exit(127);
        }
        assert_true(http_wait_ready(port));
        return pid;
}

static int setup(void **state) {
        char comp[512], path[600], creds[512], conf_a[600], conf_b[600];
        struct rlimit rl;
        struct passwd *nobody;

        /* 1,000 connections at once need the descriptors */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
                rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        snprintf(dir, sizeof dir, "/tmp/xfsm-http-test-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755); /* xfsm-http C runs as nobody */
        broker_pid = private_bus_start(dir, address, sizeof address, &bus);
        assert_true(broker_pid > 0);

        snprintf(comp, sizeof comp, "%s/comp", dir);
        mkdir(comp, 0755);
        snprintf(path, sizeof path, "%s/order.yaml", comp);
        copy_file(data("xcomponent/demo-order.yaml"), path);
        snprintf(path, sizeof path, "%s/payment.yaml", comp);
        copy_file(data("xcomponent/demo-payment.yaml"), path);
        /* instances dropped once final: their removal on the event stream */
        snprintf(path, sizeof path, "%s/drop.yaml", comp);
        write_file(path, "name: Dropping\n"
                         "stateMachines:\n"
                         "  - name: Job\n"
                         "    initialState: Running\n"
                         "    retention: {final: drop}\n"
                         "    states: [{name: Running}, {name: Done, type: final}]\n"
                         "    transitions: [{from: Running, to: Done, event: FINISH}]\n");
        setenv("XFSM_COMPONENT_PATH", comp, 1);
        {
                char state_dir[600], log[600];
                char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                                 (char *) "--manager", (char *) "--state-dir", state_dir, (char *) "--component",
                                 (char *) "order", (char *) "--component", (char *) "payment", (char *) "--component",
                                 (char *) "drop", NULL };

                snprintf(state_dir, sizeof state_dir, "%s/state", dir);
                snprintf(log, sizeof log, "%s/xfsmd.log", dir);
                daemon_pid = spawn(argv, log);
        }
        assert_true(wait_name(bus, "org.xfsm1", true));
        assert_true(wait_name(bus, "org.xfsm1.PaymentComponent", true));
        assert_true(wait_name(bus, "org.xfsm1.Dropping", true));

        setenv("XFSM_HTTP_DASHBOARD", env_or("XFSM_HTTP_DASHBOARD", "daemon/http/dashboard"), 1);

        snprintf(conf_a, sizeof conf_a, "%s/http-a.conf", dir);
        write_file(conf_a, "[HTTP]\nMaxConnections=2000\nMaxConnectionsPerClient=2000\n");
        port_a = http_free_port();
        http_a = start_http(port_a, "a", conf_a, true, 0, 0);

        snprintf(creds, sizeof creds, "%s/creds", dir);
        mkdir(creds, 0700);
        snprintf(path, sizeof path, "%s/http-tokens", creds);
        write_file(path, "# the tokens of test-http\n" READ_TOKEN " read\n" WRITE_TOKEN " write:Order*\n");
        snprintf(conf_b, sizeof conf_b, "%s/http-b.conf", dir);
        write_file(conf_b, "[HTTP]\nLenient=no\nMaxConnections=64\nMaxConnectionsPerClient=32\n"
                           "MaxEventStreamsPerClient=2\nHosts=localhost 127.0.0.1 xfsm.example\n");
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        port_b = http_free_port();
        http_b = start_http(port_b, "b", conf_b, false, 0, 0);
        unsetenv("CREDENTIALS_DIRECTORY");

        nobody = getpwnam("nobody");
        if (nobody && getuid() == 0) {
                port_c = http_free_port();
                http_c = start_http(port_c, "c", conf_a, true, nobody->pw_uid, nobody->pw_gid);
        }
        return 0;
}

/* SIGTERM: true when it was a clean exit */
static bool stop(pid_t pid) {
        int status = 0;

        if (pid <= 0)
                return true;
        kill(pid, SIGCONT); /* test_answers_while_the_bus_waits may have failed with xfsmd stopped */
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int teardown(void **state) {
        bool clean = true;
        char cmd[600];

        /* xfsm-http with event streams open, connections suspended: still a clean exit */
        clean = stop(http_a) && clean;
        clean = stop(http_b) && clean;
        clean = stop(http_c) && clean;
        clean = stop(daemon_pid) && clean;
        sd_bus_flush_close_unref(bus);
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                assert_int_equal(system(cmd), 0);
        assert_true(clean);
        return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static json_object *body_json(const HttpAnswer *a) {
        json_object *o = json_tokener_parse(a->body);

        if (!o)
                fail_msg("not JSON (status %d): %s", a->status, a->body);
        return o;
}

static const char *str(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return NULL;
        return json_object_get_string(v);
}

/* status and, for JSON answers, the "error" member present */
static void expect(const HttpAnswer *a, int status) {
        if (a->status != status)
                fail_msg("status %d, wanted %d: %s", a->status, status, a->body);
        if (status >= 400) {
                json_object *o = body_json(a);

                assert_non_null(str(o, "error"));
                json_object_put(o);
        }
}

static char *create(unsigned port, const char *component, const char *body, const char *headers) {
        char path[256];
        HttpAnswer a = {};
        json_object *o;
        char *id;

        snprintf(path, sizeof path, "/api/components/%s/instances", component);
        assert_int_equal(http_post_json(port, path, headers, body, &a), 0);
        expect(&a, 200);
        o = body_json(&a);
        assert_string_equal(str(o, "componentName"), component);
        id = strdup(str(o, "instanceId"));
        json_object_put(o);
        http_answer_done(&a);
        return id;
}

static char *create_order(unsigned port) {
        return create(port, "OrderComponent",
                      "{\"machineName\":\"Order\",\"context\":{\"orderId\":\"ORD-1\",\"amount\":10,\"customerId\":\"C-1\"}}",
                      NULL);
}

static char *create_payment(unsigned port) {
        return create(port, "PaymentComponent",
                      "{\"machineName\":\"Payment\",\"context\":{\"orderId\":\"ORD-1\",\"amount\":10,\"customerId\":\"C-1\"}}",
                      NULL);
}

static json_object *get_json(unsigned port, const char *path, int status) {
        HttpAnswer a = {};
        json_object *o;

        assert_int_equal(http_request(port, "GET", path, NULL, NULL, &a), 0);
        expect(&a, status);
        o = body_json(&a);
        http_answer_done(&a);
        return o;
}

static json_object *send_event(unsigned port, const char *id, const char *event, int status) {
        char path[256], body[256];
        HttpAnswer a = {};
        json_object *o;

        snprintf(path, sizeof path, "/api/instances/%s/events", id);
        snprintf(body, sizeof body, "{\"type\":\"%s\"}", event);
        assert_int_equal(http_post_json(port, path, NULL, body, &a), 0);
        expect(&a, status);
        o = body_json(&a);
        http_answer_done(&a);
        return o;
}

static const char *instance_state(unsigned port, const char *id) {
        static char state[64];
        char path[256];
        json_object *o, *i;

        snprintf(path, sizeof path, "/api/instances/%s", id);
        o = get_json(port, path, 200);
        assert_true(json_object_object_get_ex(o, "instance", &i));
        snprintf(state, sizeof state, "%s", str(i, "currentState"));
        json_object_put(o);
        return state;
}

/* ---- routes ------------------------------------------------------------- */

static void test_healthz_and_components(void **state) {
        json_object *o = get_json(port_a, "/healthz", 200), *list, *c;
        bool order = false;

        assert_string_equal(str(o, "status"), "ok");
        json_object_put(o);

        o = get_json(port_a, "/api/components", 200);
        assert_true(json_object_object_get_ex(o, "components", &list));
        for (size_t k = 0; k < json_object_array_length(list); k++) {
                c = json_object_array_get_idx(list, k);
                if (strcmp(str(c, "name"), "OrderComponent") == 0) {
                        order = true;
                        assert_string_equal(str(c, "version"), "1.0.0");
                        assert_int_equal(json_object_get_int(json_object_object_get(c, "machineCount")), 1);
                        assert_non_null(json_object_object_get(c, "instanceCount"));
                }
        }
        assert_true(order);
        json_object_put(o);
}

static void test_component_definition_and_not_found(void **state) {
        json_object *o = get_json(port_a, "/api/components/OrderComponent", 200), *c;

        assert_true(json_object_object_get_ex(o, "component", &c));
        assert_string_equal(str(c, "name"), "OrderComponent");
        assert_non_null(json_object_object_get(c, "stateMachines"));
        json_object_put(o);

        o = get_json(port_a, "/api/components/NoSuchThing", 404);
        assert_string_equal(str(o, "error"), "Component not found");
        json_object_put(o);
}

static void test_create_errors(void **state) {
        HttpAnswer a = {};
        json_object *o;

        assert_int_equal(http_post_json(port_a, "/api/components/NoSuchThing/instances", NULL,
                                        "{\"machineName\":\"Order\"}", &a), 0);
        expect(&a, 404);
        o = body_json(&a);
        assert_string_equal(str(o, "error"), "Component not found");
        json_object_put(o);
        http_answer_done(&a);

        assert_int_equal(http_post_json(port_a, "/api/components/OrderComponent/instances", NULL,
                                        "{\"machineName\":\"Nope\"}", &a), 0);
        expect(&a, 400);
        o = body_json(&a);
        assert_string_equal(str(o, "error"), "Machine Nope not found");
        json_object_put(o);
        http_answer_done(&a);

        assert_int_equal(http_post_json(port_a, "/api/components/OrderComponent/instances", NULL, "{}", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);

        assert_int_equal(http_post_json(port_a, "/api/components/OrderComponent/instances", NULL,
                                        "{\"machineName\":\"Order\",\"context\":[1]}", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);
}

static void test_create_send_get_history(void **state) {
        char *order, *payment, path[256];
        json_object *o, *i, *h, *first, *ev;

        payment = create_payment(port_a);
        order = create_order(port_a);

        o = send_event(port_a, order, "VALIDATE", 200);
        assert_true(json_object_get_boolean(json_object_object_get(o, "success")));
        assert_true(json_object_get_boolean(json_object_object_get(o, "accepted")));
        assert_string_equal(str(o, "state"), "Validated");
        json_object_put(o);

        /* the cascade reached the Payment */
        for (int k = 0; k < 100 && strcmp(instance_state(port_a, payment), "Processing") != 0; k++)
                usleep(20000);
        assert_string_equal(instance_state(port_a, payment), "Processing");

        snprintf(path, sizeof path, "/api/instances/%s", order);
        o = get_json(port_a, path, 200);
        assert_true(json_object_object_get_ex(o, "instance", &i));
        assert_string_equal(str(i, "id"), order);
        assert_string_equal(str(i, "machineName"), "Order");
        assert_string_equal(str(i, "currentState"), "Validated");
        assert_string_equal(str(i, "componentName"), "OrderComponent");
        assert_string_equal(str(json_object_object_get(i, "context"), "orderId"), "ORD-1");
        assert_true(json_object_get_int64(json_object_object_get(i, "createdAt")) > 1600000000000LL);
        assert_non_null(json_object_object_get(i, "updatedAt"));
        assert_non_null(str(i, "status"));
        json_object_put(o);

        snprintf(path, sizeof path, "/api/instances/%s/history", order);
        o = get_json(port_a, path, 200);
        assert_true(json_object_object_get_ex(o, "history", &h));
        assert_int_equal(json_object_array_length(h), 1);
        first = json_object_array_get_idx(h, 0);
        assert_true(json_object_object_get_ex(first, "event", &ev));
        assert_string_equal(str(ev, "type"), "VALIDATE");
        assert_true(json_object_get_int64(json_object_object_get(ev, "timestamp")) > 1600000000000LL);
        assert_string_equal(str(first, "stateBefore"), "Created");
        assert_string_equal(str(first, "stateAfter"), "Validated");
        assert_non_null(json_object_object_get(first, "persistedAt"));
        json_object_put(o);

        free(order);
        free(payment);
}

static void test_instances_list(void **state) {
        char *order = create_order(port_a);
        json_object *o = get_json(port_a, "/api/instances", 200), *list;
        bool found = false;

        assert_true(json_object_object_get_ex(o, "instances", &list));
        for (size_t k = 0; k < json_object_array_length(list); k++) {
                json_object *i = json_object_array_get_idx(list, k);

                if (strcmp(str(i, "id"), order) == 0) {
                        found = true;
                        assert_string_equal(str(i, "machineName"), "Order");
                        assert_string_equal(str(i, "currentState"), "Created");
                        assert_string_equal(str(i, "componentName"), "OrderComponent");
                        assert_true(json_object_is_type(json_object_object_get(i, "pendingTimeouts"),
                                                        json_type_array));
                        assert_non_null(json_object_object_get(i, "context"));
                }
        }
        assert_true(found);
        json_object_put(o);
        free(order);
}

static void test_instance_not_found(void **state) {
        json_object *o = get_json(port_a, "/api/instances/no-such-instance", 404);

        assert_string_equal(str(o, "error"), "Instance not found");
        assert_string_equal(str(o, "name"), "org.xfsm1.Error.NoSuchInstance");
        json_object_put(o);
        json_object_put(get_json(port_a, "/api/instances/no-such-instance/history", 404));
        json_object_put(send_event(port_a, "no-such-instance", "VALIDATE", 404));
}

static void test_event_lenient_and_strict(void **state) {
        char *order = create_order(port_a);
        char path[256];
        HttpAnswer a = {};
        json_object *o;

        /* lenient (A): 200, success, not accepted, the error's name */
        o = send_event(port_a, order, "COMPLETE", 200);
        assert_true(json_object_get_boolean(json_object_object_get(o, "success")));
        assert_false(json_object_get_boolean(json_object_object_get(o, "accepted")));
        assert_string_equal(str(o, "name"), "org.xfsm1.Error.NoTransition");
        assert_non_null(str(o, "error"));
        json_object_put(o);
        assert_string_equal(instance_state(port_a, order), "Created");

        /* strict (B, with a write token): 409 and the same body */
        snprintf(path, sizeof path, "/api/instances/%s/events", order);
        assert_int_equal(http_post_json(port_b, path, "Authorization: Bearer " WRITE_TOKEN "\r\n",
                                        "{\"type\":\"COMPLETE\"}", &a), 0);
        expect(&a, 409);
        o = body_json(&a);
        assert_true(json_object_get_boolean(json_object_object_get(o, "success")));
        assert_false(json_object_get_boolean(json_object_object_get(o, "accepted")));
        assert_string_equal(str(o, "name"), "org.xfsm1.Error.NoTransition");
        json_object_put(o);
        http_answer_done(&a);

        /* the component route, with a payload */
        snprintf(path, sizeof path, "/api/components/OrderComponent/instances/%s/events", order);
        assert_int_equal(http_post_json(port_a, path, NULL, "{\"type\":\"CANCEL\",\"payload\":{\"why\":\"test\"}}", &a),
                         0);
        expect(&a, 200);
        o = body_json(&a);
        assert_string_equal(str(o, "state"), "Cancelled");
        json_object_put(o);
        http_answer_done(&a);

        /* the component route for an instance of another component: not found there, nothing sent */
        {
                char *payment = create_payment(port_a);

                snprintf(path, sizeof path, "/api/components/OrderComponent/instances/%s/events", payment);
                assert_int_equal(http_post_json(port_a, path, NULL, "{\"type\":\"PROCESS\"}", &a), 0);
                expect(&a, 404);
                o = body_json(&a);
                assert_string_equal(str(o, "error"), "Instance not found");
                assert_string_equal(str(o, "name"), "org.xfsm1.Error.NoSuchInstance");
                json_object_put(o);
                http_answer_done(&a);
                /* a write token for Order* alone: the same, the Payment untouched */
                assert_int_equal(http_post_json(port_b, path, "Authorization: Bearer " WRITE_TOKEN "\r\n",
                                                "{\"type\":\"PROCESS\"}", &a), 0);
                expect(&a, 404);
                http_answer_done(&a);
                assert_string_equal(instance_state(port_a, payment), "Pending");
                json_object_put(get_json(port_a, "/healthz", 200));
                json_object_put(get_json(port_b, "/healthz", 200));
                free(payment);
        }

        snprintf(path, sizeof path, "/api/components/NoSuchThing/instances/%s/events", order);
        assert_int_equal(http_post_json(port_a, path, NULL, "{\"type\":\"CANCEL\"}", &a), 0);
        expect(&a, 404);
        http_answer_done(&a);

        assert_int_equal(http_post_json(port_a, path, NULL, "{\"payload\":{}}", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);
        free(order);
}

static void test_diagrams(void **state) {
        json_object *o = get_json(port_a, "/api/components/OrderComponent/diagrams/Order?currentState=Validated", 200);
        json_object *t, *first;
        HttpAnswer a = {};

        assert_non_null(strstr(str(o, "diagram"), "stateDiagram-v2"));
        assert_non_null(strstr(str(o, "diagram"), "Created --> Validated : VALIDATE"));
        assert_non_null(strstr(str(o, "diagram"), "class Validated currentState"));
        assert_true(json_object_object_get_ex(o, "terminalStates", &t));
        assert_int_equal(json_object_array_length(t), 2);
        assert_true(json_object_object_get_ex(o, "transitions", &t));
        first = json_object_array_get_idx(t, 0);
        assert_int_equal(json_object_get_int(json_object_object_get(first, "index")), 0);
        assert_string_equal(str(first, "event"), "VALIDATE");
        assert_string_equal(str(first, "type"), "triggerable");
        json_object_put(o);

        json_object_put(get_json(port_a, "/api/components/OrderComponent/diagrams/Nope", 404));
        json_object_put(get_json(port_a, "/api/components/Nope/diagrams/Order", 404));

        assert_int_equal(http_request(port_a, "GET", "/api/components/OrderComponent/machines/Order/diagram.svg", NULL,
                                      NULL, &a), 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(http_header(&a, "Content-Type"), "image/svg+xml");
        assert_string_equal(http_header(&a, "Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'");
        assert_non_null(strstr(a.body, "<svg"));
        assert_non_null(strstr(a.body, "state&#45;Validated"));
        http_answer_done(&a);
}

/* how many instances OrderComponent has, as GET /api/instances tells */
static size_t count_orders(void) {
        json_object *o = get_json(port_a, "/api/instances", 200), *list;
        size_t n = 0;

        assert_true(json_object_object_get_ex(o, "instances", &list));
        for (size_t k = 0; k < json_object_array_length(list); k++)
                if (strcmp(str(json_object_array_get_idx(list, k), "componentName"), "OrderComponent") == 0)
                        n++;
        json_object_put(o);
        return n;
}

static void test_bad_requests(void **state) {
        static const char create_path[] = "/api/components/OrderComponent/instances";
        static const char good_create[] = "{\"machineName\":\"Order\",\"context\":{\"orderId\":\"O\"}}";
        char big_path[64], *big;
        HttpAnswer a = {};
        size_t n = 1024 * 1024 + 10, orders;
        char *order = create_order(port_a);

        /* bad creations create nothing: malformed, form-encoded, no type, wrong method, over 1 MiB */
        orders = count_orders();
        assert_int_equal(http_post_json(port_a, create_path, NULL, "{\"machineName\":\"Order\",", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "POST", create_path, "Content-Type: application/x-www-form-urlencoded\r\n",
                                      "machineName=Order", &a), 0);
        expect(&a, 415);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "POST", create_path, NULL, good_create, &a), 0);
        expect(&a, 415);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "PUT", create_path, "Content-Type: application/json\r\n", good_create, &a),
                         0);
        expect(&a, 405);
        assert_string_equal(http_header(&a, "Allow"), "POST");
        http_answer_done(&a);
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, ' ', n);
        memcpy(big, good_create, strlen(good_create));
        big[n] = '\0';
        assert_int_equal(http_post_json(port_a, create_path, NULL, big, &a), 0);
        expect(&a, 413);
        http_answer_done(&a);
        free(big);
        assert_int_equal(count_orders(), orders);

        /* unknown routes, wrong methods */
        assert_int_equal(http_request(port_a, "GET", "/api/nothing", NULL, NULL, &a), 0);
        expect(&a, 404);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "GET", "/api//components", NULL, NULL, &a), 0);
        expect(&a, 404);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "DELETE", "/api/components", NULL, NULL, &a), 0);
        expect(&a, 405);
        assert_string_equal(http_header(&a, "Allow"), "GET, HEAD");
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "GET", "/api/components/OrderComponent/instances", NULL, NULL, &a), 0);
        expect(&a, 405);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "GET", "/api/components/Bad-Name", NULL, NULL, &a), 0);
        expect(&a, 400);
        http_answer_done(&a);

        /* malformed JSON, not an object, trailing garbage */
        snprintf(big_path, sizeof big_path, "/api/instances/%s/events", order);
        assert_int_equal(http_post_json(port_a, big_path, NULL, "{\"type\":", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);
        assert_int_equal(http_post_json(port_a, big_path, NULL, "[\"VALIDATE\"]", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);
        assert_int_equal(http_post_json(port_a, big_path, NULL, "{\"type\":\"VALIDATE\"} x", &a), 0);
        expect(&a, 400);
        http_answer_done(&a);

        /* a form-encoded POST (what a cross-site form sends) */
        assert_int_equal(http_request(port_a, "POST", big_path, "Content-Type: application/x-www-form-urlencoded\r\n",
                                      "type=VALIDATE", &a), 0);
        expect(&a, 415);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "POST", big_path, "Content-Type: text/plain\r\n",
                                      "{\"type\":\"VALIDATE\"}", &a), 0);
        expect(&a, 415);
        http_answer_done(&a);

        /* over 1 MiB */
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, ' ', n);
        memcpy(big, "{\"type\":\"VALIDATE\",\"payload\":{\"x\":\"", 35);
        memcpy(big + n - 3, "\"}}", 3);
        big[n] = '\0';
        assert_int_equal(http_post_json(port_a, big_path, NULL, big, &a), 0);
        expect(&a, 413);
        http_answer_done(&a);
        free(big);

        /* nothing of it changed the instance */
        assert_string_equal(instance_state(port_a, order), "Created");
        free(order);
}

static void test_host_and_origin(void **state) {
        HttpAnswer a = {};

        /* DNS rebinding: a name that is not ours */
        assert_int_equal(http_request(port_a, "GET", "/api/components", "Host: attacker.example\r\n", NULL, &a), 0);
        expect(&a, 421);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "GET", "/api/components", "Host: localhost:3000\r\n", NULL, &a), 0);
        expect(&a, 200);
        http_answer_done(&a);
        /* B allows one more name */
        assert_int_equal(http_request(port_b, "GET", "/api/components", "Host: xfsm.example\r\n", NULL, &a), 0);
        expect(&a, 200);
        http_answer_done(&a);

        /* a foreign Origin, on a read and on a write */
        assert_int_equal(http_request(port_a, "GET", "/api/components", "Origin: http://attacker.example\r\n", NULL,
                                      &a), 0);
        expect(&a, 403);
        http_answer_done(&a);
        assert_int_equal(http_post_json(port_a, "/api/components/OrderComponent/instances",
                                        "Origin: http://attacker.example\r\n", "{\"machineName\":\"Order\"}", &a), 0);
        expect(&a, 403);
        http_answer_done(&a);

        /* the same origin passes; no CORS headers are sent */
        {
                char h[128];

                snprintf(h, sizeof h, "Origin: http://127.0.0.1:%u\r\n", port_a);
                assert_int_equal(http_request(port_a, "GET", "/api/components", h, NULL, &a), 0);
                expect(&a, 200);
                assert_null(http_header(&a, "Access-Control-Allow-Origin"));
                http_answer_done(&a);
        }
}

static void test_tokens_and_scopes(void **state) {
        HttpAnswer a = {};
        json_object *o;
        char *order;

        /* B: anonymous on loopback reads, does not write */
        json_object_put(get_json(port_b, "/api/components", 200));
        assert_int_equal(http_post_json(port_b, "/api/components/OrderComponent/instances", NULL,
                                        "{\"machineName\":\"Order\"}", &a), 0);
        expect(&a, 403);
        http_answer_done(&a);

        /* an unknown token, a malformed header */
        assert_int_equal(http_request(port_b, "GET", "/api/components", "Authorization: Bearer nope-nope-nope-nope\r\n",
                                      NULL, &a), 0);
        expect(&a, 401);
        http_answer_done(&a);
        assert_int_equal(http_request(port_b, "GET", "/api/components", "Authorization: Basic Zm9vOmJhcg==\r\n", NULL,
                                      &a), 0);
        expect(&a, 401);
        http_answer_done(&a);

        /* the read token reads, does not write */
        assert_int_equal(http_request(port_b, "GET", "/api/components", "Authorization: Bearer " READ_TOKEN "\r\n", NULL,
                                      &a), 0);
        expect(&a, 200);
        http_answer_done(&a);
        assert_int_equal(http_post_json(port_b, "/api/components/OrderComponent/instances",
                                        "Authorization: Bearer " READ_TOKEN "\r\n", "{\"machineName\":\"Order\"}", &a),
                         0);
        expect(&a, 403);
        http_answer_done(&a);

        /* the write token writes to Order* only */
        order = create(port_b, "OrderComponent", "{\"machineName\":\"Order\",\"context\":{\"orderId\":\"O\",\"amount\":1,\"customerId\":\"C\"}}",
                       "Authorization: Bearer " WRITE_TOKEN "\r\n");
        assert_int_equal(http_post_json(port_b, "/api/components/PaymentComponent/instances",
                                        "Authorization: Bearer " WRITE_TOKEN "\r\n", "{\"machineName\":\"Payment\"}",
                                        &a), 0);
        expect(&a, 403);
        http_answer_done(&a);
        {
                char path[256];
                char *payment = create_payment(port_a);

                /* an instance route learns its component, then checks the scope */
                snprintf(path, sizeof path, "/api/instances/%s/events", payment);
                assert_int_equal(http_post_json(port_b, path, "Authorization: Bearer " WRITE_TOKEN "\r\n",
                                                "{\"type\":\"PROCESS\"}", &a), 0);
                expect(&a, 403);
                http_answer_done(&a);
                assert_string_equal(instance_state(port_a, payment), "Pending");
                free(payment);
        }

        /* the dashboard's session: a cookie, HttpOnly and SameSite=Strict, that grants what the token does */
        assert_int_equal(http_post_json(port_b, "/api/session", NULL, "{\"token\":\"" WRITE_TOKEN "\"}", &a), 0);
        expect(&a, 200);
        {
                const char *cookie = http_header(&a, "Set-Cookie");
                char header[256], path[256];

                assert_non_null(cookie);
                assert_non_null(strstr(cookie, "HttpOnly"));
                assert_non_null(strstr(cookie, "SameSite=Strict"));
                snprintf(header, sizeof header, "Cookie: %.*s\r\n", (int) strcspn(cookie, ";"), cookie);
                http_answer_done(&a);

                snprintf(path, sizeof path, "/api/instances/%s/events", order);
                assert_int_equal(http_post_json(port_b, path, header, "{\"type\":\"VALIDATE\"}", &a), 0);
                expect(&a, 200);
                o = body_json(&a);
                assert_string_equal(str(o, "state"), "Validated");
                json_object_put(o);
                http_answer_done(&a);
        }
        assert_int_equal(http_request(port_b, "GET", "/api/components", "Cookie: xfsm_session=0123456789abcdef\r\n",
                                      NULL, &a), 0);
        expect(&a, 401);
        http_answer_done(&a);
        assert_int_equal(http_post_json(port_b, "/api/session", NULL, "{\"token\":\"wrong-wrong-wrong-wrong\"}", &a), 0);
        expect(&a, 401);
        http_answer_done(&a);
        free(order);
}

static void test_access_denied_by_the_daemon(void **state) {
        HttpAnswer a = {};
        json_object *o;

        if (port_c == 0)
                skip();
        /* xfsm-http as nobody, no polkit to ask: the daemon denies, xfsm-http says so with its name */
        assert_int_equal(http_post_json(port_c, "/api/components/OrderComponent/instances", NULL,
                                        "{\"machineName\":\"Order\"}", &a), 0);
        expect(&a, 403);
        o = body_json(&a);
        assert_string_equal(str(o, "name"), "org.freedesktop.DBus.Error.AccessDenied");
        json_object_put(o);
        http_answer_done(&a);
}

static void test_event_stream(void **state) {
        HttpAnswer head = {};
        char *order, *line, path[256];
        int fd, fd_filtered, fds[3];
        bool created = false, transition = false;

        fd = http_stream_open(port_a, "/api/events", NULL, &head);
        assert_true(fd >= 0);
        assert_int_equal(head.status, 200);
        assert_string_equal(http_header(&head, "Content-Type"), "text/event-stream");
        http_answer_done(&head);
        fd_filtered = http_stream_open(port_a, "/api/events?component=PaymentComponent", NULL, &head);
        assert_true(fd_filtered >= 0);
        http_answer_done(&head);

        order = create_order(port_a);
        json_object_put(send_event(port_a, order, "CANCEL", 200));

        while ((!created || !transition) && (line = http_stream_next(fd, 5000))) {
                json_object *o = json_tokener_parse(line);

                assert_non_null(o);
                if (strcmp(str(o, "instanceId"), order) == 0) {
                        if (strcmp(str(o, "type"), "instance_created") == 0) {
                                created = true;
                                assert_string_equal(str(o, "componentName"), "OrderComponent");
                                assert_string_equal(str(o, "machineName"), "Order");
                        } else if (strcmp(str(o, "type"), "transition") == 0) {
                                transition = true;
                                assert_string_equal(str(o, "from"), "Created");
                                assert_string_equal(str(o, "to"), "Cancelled");
                                assert_string_equal(str(o, "event"), "CANCEL");
                        }
                }
                json_object_put(o);
                free(line);
        }
        assert_true(created);
        assert_true(transition);

        /* the filtered stream saw none of the Order's events, and sees a Payment's */
        line = http_stream_next(fd_filtered, 300);
        assert_null(line);
        {
                char *payment = create_payment(port_a);
                json_object *o;

                line = http_stream_next(fd_filtered, 5000);
                assert_non_null(line);
                o = json_tokener_parse(line);
                assert_non_null(o);
                assert_string_equal(str(o, "type"), "instance_created");
                assert_string_equal(str(o, "instanceId"), payment);
                assert_string_equal(str(o, "componentName"), "PaymentComponent");
                json_object_put(o);
                free(line);
                free(payment);
        }

        /* an instance dropped once final: created, its transition, removed */
        {
                char *job = create(port_a, "Dropping", "{\"machineName\":\"Job\"}", NULL);
                bool removed = false;

                json_object_put(send_event(port_a, job, "FINISH", 200));
                while (!removed && (line = http_stream_next(fd, 5000))) {
                        json_object *o = json_tokener_parse(line);

                        assert_non_null(o);
                        if (strcmp(str(o, "instanceId"), job) == 0 && strcmp(str(o, "type"), "instance_removed") == 0) {
                                removed = true;
                                assert_string_equal(str(o, "componentName"), "Dropping");
                                assert_string_equal(str(o, "machineName"), "Job");
                        }
                        json_object_put(o);
                        free(line);
                }
                assert_true(removed);
                snprintf(path, sizeof path, "/api/instances/%s", job);
                json_object_put(get_json(port_a, path, 404));
                free(job);
        }
        http_stream_close(fd);
        http_stream_close(fd_filtered);

        /* a filter that is no component name */
        assert_int_equal(http_request(port_a, "GET", "/api/events?component=..%2Fx%0A", NULL, NULL, &head), 0);
        expect(&head, 400);
        http_answer_done(&head);

        /* B allows two streams per client: the third gets 429 */
        for (int k = 0; k < 2; k++) {
                fds[k] = http_stream_open(port_b, "/api/events", NULL, &head);
                assert_true(fds[k] >= 0);
                assert_int_equal(head.status, 200);
                http_answer_done(&head);
        }
        assert_int_equal(http_request(port_b, "GET", "/api/events", NULL, NULL, &head), 0);
        expect(&head, 429);
        http_answer_done(&head);
        for (int k = 0; k < 2; k++)
                http_stream_close(fds[k]);
        snprintf(path, sizeof path, "/api/instances/%s", order);
        json_object_put(get_json(port_a, path, 200));
        free(order);
}

static void test_dashboard_files(void **state) {
        HttpAnswer a = {};

        assert_int_equal(http_request(port_a, "GET", "/", NULL, NULL, &a), 0);
        assert_int_equal(a.status, 302);
        assert_string_equal(http_header(&a, "Location"), "/dashboard");
        http_answer_done(&a);

        assert_int_equal(http_request(port_a, "GET", "/dashboard", NULL, NULL, &a), 0);
        assert_int_equal(a.status, 200);
        assert_non_null(strstr(http_header(&a, "Content-Type"), "text/html"));
        assert_non_null(http_header(&a, "Content-Security-Policy"));
        assert_non_null(strstr(a.body, "dashboard.js"));
        /* no CDN: nothing of the page comes from elsewhere */
        assert_null(strstr(a.body, "http://"));
        assert_null(strstr(a.body, "https://"));
        http_answer_done(&a);

        assert_int_equal(http_request(port_a, "GET", "/dashboard/dashboard.js", NULL, NULL, &a), 0);
        assert_int_equal(a.status, 200);
        assert_non_null(strstr(http_header(&a, "Content-Type"), "javascript"));
        assert_null(strstr(a.body, "https://"));
        http_answer_done(&a);

        assert_int_equal(http_request(port_a, "GET", "/dashboard/..%2Fhttp-api.c", NULL, NULL, &a), 0);
        expect(&a, 404);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "GET", "/dashboard/.hidden", NULL, NULL, &a), 0);
        expect(&a, 404);
        http_answer_done(&a);
        assert_int_equal(http_request(port_a, "GET", "/dashboard/missing.js", NULL, NULL, &a), 0);
        expect(&a, 404);
        http_answer_done(&a);
}

static void test_keep_alive(void **state) {
        int fd = http_connect(port_a);

        assert_true(fd >= 0);
        for (int k = 0; k < 20; k++) {
                HttpAnswer a = {};

                assert_int_equal(http_exchange(fd, port_a, "GET", "/api/components", NULL, NULL, 0, &a), 0);
                assert_int_equal(a.status, 200);
                http_answer_done(&a);
        }
        close(fd);
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Asynchronous: with xfsmd stopped (SIGSTOP), a request that needs it waits
 * for its answer while xfsm-http answers others at once (the health check,
 * the dashboard, the cached component list... and a second such request
 * waits too); once xfsmd goes on, both are answered. */
static void test_answers_while_the_bus_waits(void **state) {
        char *order = create_order(port_a), path[256];
        int pipes[2][2];
        pid_t children[2];
        uint64_t t0;

        snprintf(path, sizeof path, "/api/instances/%s", order);
        json_object_put(get_json(port_a, path, 200)); /* its component known */

        assert_int_equal(kill(daemon_pid, SIGSTOP), 0);
        for (int k = 0; k < 2; k++) {
                assert_int_equal(pipe(pipes[k]), 0);
                children[k] = fork();
                assert_true(children[k] >= 0);
                if (children[k] == 0) {
                        HttpAnswer a = {};
                        int status = http_request(port_a, "GET", path, NULL, NULL, &a) < 0 ? -1 : a.status;

                        _exit(write(pipes[k][1], &status, sizeof status) == sizeof status ? 0 : 1);
                }
                close(pipes[k][1]);
        }
        usleep(300000);
        for (int k = 0; k < 2; k++) {
                struct pollfd p = { .fd = pipes[k][0], .events = POLLIN };

                assert_int_equal(poll(&p, 1, 0), 0); /* still waiting for xfsmd */
        }

        t0 = now_ms();
        json_object_put(get_json(port_a, "/healthz", 200));
        {
                HttpAnswer a = {};

                assert_int_equal(http_request(port_a, "GET", "/dashboard", NULL, NULL, &a), 0);
                assert_int_equal(a.status, 200);
                http_answer_done(&a);
        }
        assert_true(now_ms() - t0 < 1000);

        assert_int_equal(kill(daemon_pid, SIGCONT), 0);
        for (int k = 0; k < 2; k++) {
                int status = 0;

                assert_int_equal(read(pipes[k][0], &status, sizeof status), sizeof status);
                assert_int_equal(status, 200);
                close(pipes[k][0]);
                assert_int_equal(waitpid(children[k], NULL, 0), children[k]);
        }
        free(order);
}

/* 1,000 connections at once against B (MaxConnections=64, 32 per client):
 * those within the limit are served, those past it answered 503 (JSON,
 * Retry-After) while libmicrohttpd's own higher limit allows, the rest
 * closed at once; the server answers as before once they are gone. */
static void test_thousand_connections(void **state) {
        enum { N = 1000 };
        static int fds[N];
        unsigned served = 0, busy = 0, closed = 0;

        for (int k = 0; k < N; k++)
                fds[k] = http_connect(port_b);
        usleep(200000);
        for (int k = 0; k < N; k++) {
                HttpAnswer a = {};

                if (fds[k] < 0) {
                        closed++;
                        continue;
                }
                if (http_exchange(fds[k], port_b, "GET", "/healthz", NULL, NULL, 0, &a) < 0)
                        closed++;
                else if (a.status == 200)
                        served++;
                else {
                        json_object *o = body_json(&a);

                        assert_int_equal(a.status, 503);
                        assert_string_equal(str(o, "error"), "Too many connections");
                        assert_string_equal(http_header(&a, "Retry-After"), "1");
                        json_object_put(o);
                        busy++;
                }
                http_answer_done(&a);
                close(fds[k]);
                fds[k] = -1;
        }
        print_message("1000 connections: %u served, %u answered 503, %u closed\n", served, busy, closed);
        assert_true(served >= 1);
        assert_true(served <= 32);
        assert_true(busy >= 1);
        assert_int_equal(served + busy + closed, N);

        /* the server is still well, and counts its connections right: 32 at once again (the event
         * streams test_event_stream left are gone too: their clients' leaving was seen) */
        usleep(100000);
        for (int k = 0; k < 32; k++) {
                fds[k] = http_connect(port_b);
                assert_true(fds[k] >= 0);
        }
        for (int k = 0; k < 32; k++) {
                HttpAnswer a = {};

                assert_int_equal(http_exchange(fds[k], port_b, "GET", "/healthz", NULL, NULL, 0, &a), 0);
                assert_int_equal(a.status, 200);
                http_answer_done(&a);
                close(fds[k]);
        }
        json_object_put(get_json(port_b, "/api/components", 200));
        json_object_put(get_json(port_a, "/healthz", 200));
}

/* a command's standard output (at most size - 1 bytes), its exit status */
static int run_capture(const char *cmd, char *out, size_t size) {
        FILE *p = popen(cmd, "re");
        size_t n;
        int status;

        assert_non_null(p);
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        status = pclose(p);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Beyond loopback without TLS and tokens: refused before anything is
 * bound. With a certificate and tokens as credentials: HTTPS (GnuTLS
 * through libmicrohttpd), the session cookie Secure. Served on 127.0.0.1:
 * the tests talk to loopback only. */
static void test_tls_and_beyond_loopback(void **state) {
        char creds[600], path[700], cmd[2048], out[4096], listen[64], log[600];
        unsigned port;
        int status = 0;
        pid_t pid;

        /* 0.0.0.0 without credentials: an error at once, nothing listening */
        port = http_free_port();
        snprintf(listen, sizeof listen, "0.0.0.0:%u", port);
        snprintf(log, sizeof log, "%s/http-open.log", dir);
        {
                char *argv[] = { (char *) env_or("XFSM_HTTP", "build/daemon/http/xfsm-http"), (char *) "--bus-address",
                                 address, (char *) "--listen", listen, (char *) "--config", (char *) "/dev/null", NULL };

                pid = spawn(argv, log);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        snprintf(cmd, sizeof cmd, "grep -c 'beyond loopback needs TLS' %s", log);
        assert_int_equal(run_capture(cmd, out, sizeof out), 0);
        assert_true(http_connect(port) < 0);

        if (system("command -v openssl >/dev/null && command -v curl >/dev/null") != 0)
                skip();

        snprintf(creds, sizeof creds, "%s/tls-creds", dir);
        mkdir(creds, 0700);
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/http-tls.key -out %s/http-tls.crt "
                 "-subj /CN=localhost -days 2 >/dev/null 2>&1", creds, creds);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof path, "%s/http-tokens", creds);
        write_file(path, WRITE_TOKEN " write:Order*\n");

        port = http_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
        snprintf(log, sizeof log, "%s/http-tls.log", dir);
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        {
                char *argv[] = { (char *) env_or("XFSM_HTTP", "build/daemon/http/xfsm-http"), (char *) "--bus-address",
                                 address, (char *) "--listen", listen, (char *) "--config", (char *) "/dev/null", NULL };

                pid = spawn(argv, log);
        }
        unsetenv("CREDENTIALS_DIRECTORY");

        snprintf(cmd, sizeof cmd, "curl -sk --retry 20 --retry-connrefused --retry-delay 0 -m 10 https://127.0.0.1:%u/healthz",
                 port);
        assert_int_equal(run_capture(cmd, out, sizeof out), 0);
        assert_non_null(strstr(out, "\"status\":\"ok\""));

        snprintf(cmd, sizeof cmd, "curl -sk -m 10 -H 'Authorization: Bearer " WRITE_TOKEN "' "
                                  "https://127.0.0.1:%u/api/components", port);
        assert_int_equal(run_capture(cmd, out, sizeof out), 0);
        assert_non_null(strstr(out, "OrderComponent"));

        snprintf(cmd, sizeof cmd, "curl -sk -m 10 -i -X POST -H 'Content-Type: application/json' "
                                  "-d '{\"token\":\"" WRITE_TOKEN "\"}' https://127.0.0.1:%u/api/session", port);
        assert_int_equal(run_capture(cmd, out, sizeof out), 0);
        assert_non_null(strstr(out, "HttpOnly; SameSite=Strict"));
        assert_non_null(strstr(out, "; Secure"));

        /* plain HTTP to the TLS port gets no answer */
        {
                HttpAnswer a = {};

                assert_true(http_request(port, "GET", "/healthz", NULL, NULL, &a) < 0 || a.status != 200);
                http_answer_done(&a);
        }
        assert_true(stop(pid));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_healthz_and_components),
                cmocka_unit_test(test_component_definition_and_not_found),
                cmocka_unit_test(test_create_errors),
                cmocka_unit_test(test_create_send_get_history),
                cmocka_unit_test(test_instances_list),
                cmocka_unit_test(test_instance_not_found),
                cmocka_unit_test(test_event_lenient_and_strict),
                cmocka_unit_test(test_diagrams),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_host_and_origin),
                cmocka_unit_test(test_tokens_and_scopes),
                cmocka_unit_test(test_access_denied_by_the_daemon),
                cmocka_unit_test(test_event_stream),
                cmocka_unit_test(test_dashboard_files),
                cmocka_unit_test(test_keep_alive),
                cmocka_unit_test(test_tls_and_beyond_loopback),
                cmocka_unit_test(test_answers_while_the_bus_waits),
                cmocka_unit_test(test_thousand_connections),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
