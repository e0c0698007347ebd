/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* xfsmd against a real, private dbus-daemon started here: objects, methods,
 * properties, signals, the ObjectManager, timers on sd-event, errors,
 * access, and xfsmctl over the bus. No mocks. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
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
#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "harness.h"

static char dir[256], address[512];
static pid_t broker_pid, daemon_pid;
static sd_bus *bus;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static bool has_owner(const char *name) {
        return name_has_owner(bus, name);
}

static void start_daemon(const char *extra) {
        char *argv[16] = {};
        char log[512];
        int n = 0;

        argv[n++] = (char *) env_or("XFSMD", "build/daemon/xfsmd");
        argv[n++] = (char *) "--bus-address";
        argv[n++] = address;
        argv[n++] = (char *) data("xcomponent/demo-order.yaml");
        argv[n++] = (char *) data("xcomponent/demo-payment.yaml");
        argv[n++] = (char *) data("timers.yaml");
        if (extra)
                argv[n++] = (char *) extra;
        snprintf(log, sizeof log, "%s/xfsmd.log", dir);
        daemon_pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Timers"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.OrderComponent"));
}

static int setup(void **state) {
        (void) state;

        snprintf(dir, sizeof dir, "/tmp/xfsm-test-XXXXXX");
        assert_non_null(mkdtemp(dir));
        chmod(dir, 0755); /* the access test connects as another user */
        broker_pid = private_bus_start(dir, address, sizeof address, &bus);
        assert_true(broker_pid > 0);
        start_daemon(NULL);
        return 0;
}

static int teardown(void **state) {
        int status = 0;
        char cmd[600];
        (void) state;

        sd_bus_flush_close_unref(bus);
        if (daemon_pid > 0) {
                kill(daemon_pid, SIGTERM);
                waitpid(daemon_pid, &status, 0);
        }
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (!getenv("XFSM_TEST_KEEP"))
                assert_int_equal(system(cmd), 0);
        /* SIGTERM is a clean exit */
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *create(const char *component, const char *machine, const char *ctx, char **ret_path) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *p, *id;
        char *r;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(bus, bn, path, "org.xfsm1.Component", "CreateInstance", &error, &reply, "ss", machine,
                               ctx) < 0)
                fail_msg("CreateInstance: %s", error.message);
        assert_int_equal(sd_bus_message_read(reply, "os", &p, &id), 1);
        r = strdup(id);
        if (ret_path)
                *ret_path = strdup(p);
        sd_bus_message_unref(reply);
        return r;
}

/* Send; returns 0 and the new state, or the error name. */
static char *send_event(const char *component, const char *id, const char *event, const char *payload) {
        char bn[128], path[128];
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *st;
        char *r;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        if (sd_bus_call_method(bus, bn, path, "org.xfsm1.Component", "Send", &error, &reply, "sss", id, event,
                               payload) < 0) {
                r = strdup(error.name);
                sd_bus_error_free(&error);
                return r;
        }
        assert_int_equal(sd_bus_message_read(reply, "s", &st), 1);
        r = strdup(st);
        sd_bus_message_unref(reply);
        return r;
}

static char *property(const char *component, const char *path, const char *name) {
        char bn[128], *v = NULL;
        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        assert_true(sd_bus_get_property_string(bus, bn, path, "org.xfsm1.Instance", name, NULL, &v) >= 0);
        return v;
}

static unsigned n_pending_timers(const char *component, const char *path, uint64_t *ret_remaining) {
        char bn[128];
        sd_bus_message *reply = NULL;
        const char *event;
        uint64_t deadline, remaining;
        unsigned n = 0;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        assert_true(sd_bus_get_property(bus, bn, path, "org.xfsm1.Instance", "PendingTimers", NULL, &reply, "a(stt)") >=
                    0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(stt)") >= 0);
        while (sd_bus_message_read(reply, "(stt)", &event, &deadline, &remaining) > 0) {
                if (ret_remaining)
                        *ret_remaining = remaining;
                n++;
        }
        sd_bus_message_unref(reply);
        return n;
}

typedef struct Signals {
        char text[65536];
        size_t len;
        unsigned n;
} Signals;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Signals *s = userdata;
        const char *a = "", *b = "", *c = "", *d = "";
        (void) ret_error;
        if (sd_bus_message_is_signal(m, "org.xfsm1.Instance", "Transition"))
                (void) sd_bus_message_read(m, "ssss", &a, &b, &c, &d);
        else if (sd_bus_message_is_signal(m, "org.xfsm1.Component", "InstanceCreated"))
                (void) sd_bus_message_read(m, "ss", &a, &b);
        else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded"))
                (void) sd_bus_message_read(m, "o", &a);
        int k = snprintf(s->text + s->len, sizeof s->text - s->len, "%s %s %s %s %s %s;", sd_bus_message_get_member(m),
                         sd_bus_message_get_path(m), a, b, c, d);
        if (k > 0 && (size_t) k < sizeof s->text - s->len)
                s->len += (size_t) k;
        s->n++;
        return 0;
}

static void pump(uint64_t usec) {
        uint64_t end = now_usec() + usec;
        while (now_usec() < end) {
                int r = sd_bus_process(bus, NULL);
                assert_true(r >= 0);
                if (r == 0)
                        (void) sd_bus_wait(bus, 20000);
        }
}

static void pump_until(Signals *s, const char *needle, uint64_t usec) {
        uint64_t end = now_usec() + usec;
        while (now_usec() < end && !strstr(s->text, needle)) {
                int r = sd_bus_process(bus, NULL);
                assert_true(r >= 0);
                if (r == 0)
                        (void) sd_bus_wait(bus, 20000);
        }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_demo_cascade_across_two_components_with_signals(void **state) {
        Signals s = {};
        sd_bus_slot *slot = NULL, *slot2 = NULL, *slot3 = NULL;
        char *opath = NULL, *st;
        (void) state;

        assert_true(sd_bus_match_signal(bus, &slot, NULL, NULL, "org.xfsm1.Instance", "Transition", on_signal, &s) >= 0);
        assert_true(sd_bus_match_signal(bus, &slot2, NULL, NULL, "org.xfsm1.Component", "InstanceCreated", on_signal,
                                        &s) >= 0);
        assert_true(sd_bus_match_signal(bus, &slot3, NULL, NULL, "org.freedesktop.DBus.ObjectManager",
                                        "InterfacesAdded", on_signal, &s) >= 0);
        char *o = create("OrderComponent", "Order", "{\"orderId\":\"O1\",\"amount\":10}", &opath);
        char *p1 = create("PaymentComponent", "Payment", "{\"orderId\":\"O1\"}", NULL);
        char *p2 = create("PaymentComponent", "Payment", "{\"orderId\":\"O2\"}", NULL);

        st = send_event("OrderComponent", o, "VALIDATE", "{}");
        assert_string_equal(st, "Validated");
        free(st);
        pump_until(&s, "Pending Processing PROCESS", 2000000);
        pump(100000);
        /* every Payment in Pending received PROCESS (no matchingRules) */
        assert_non_null(strstr(s.text, "Transition /org/xfsm1/OrderComponent/Order/"));
        assert_non_null(strstr(s.text, "Created Validated VALIDATE"));
        const char *first = strstr(s.text, "Pending Processing PROCESS");
        assert_non_null(first);
        assert_non_null(strstr(first + 1, "Pending Processing PROCESS"));
        assert_non_null(strstr(s.text, "InstanceCreated /org/xfsm1/PaymentComponent"));
        assert_non_null(strstr(s.text, "InterfacesAdded /org/xfsm1/OrderComponent"));

        char *v = property("OrderComponent", opath, "State");
        assert_string_equal(v, "Validated");
        free(v);
        v = property("OrderComponent", opath, "Machine");
        assert_string_equal(v, "Order");
        free(v);
        v = property("OrderComponent", opath, "Id");
        assert_string_equal(v, o);
        free(v);

        st = send_event("OrderComponent", o, "COMPLETE", "");
        assert_string_equal(st, "Completed");
        free(st);
        v = property("OrderComponent", opath, "Status");
        assert_string_equal(v, "completed");
        free(v);

        sd_bus_slot_unref(slot);
        sd_bus_slot_unref(slot2);
        sd_bus_slot_unref(slot3);
        free(o);
        free(p1);
        free(p2);
        free(opath);
}

/* PropertiesChanged of an instance: interface org.xfsm1.Instance, the changed
 * properties with their values after the step, none invalidated. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Signals *s = userdata;
        const char *iface, *name, *str;
        uint64_t t;
        int r, k;

        if (sd_bus_message_read(m, "s", &iface) < 0 || sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        k = snprintf(s->text + s->len, sizeof s->text - s->len, "PropertiesChanged %s", iface);
        if (k > 0 && (size_t) k < sizeof s->text - s->len)
                s->len += (size_t) k;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                char buf[128] = "";
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (sd_bus_message_peek_type(m, NULL, &str) > 0 && strcmp(str, "s") == 0 &&
                    sd_bus_message_read(m, "v", "s", &str) >= 0)
                        snprintf(buf, sizeof buf, " %s=%s", name, str);
                else if (sd_bus_message_read(m, "v", "t", &t) >= 0)
                        snprintf(buf, sizeof buf, " %s%s", name, t > 0 ? ">0" : "=0");
                (void) sd_bus_message_exit_container(m);
                k = snprintf(s->text + s->len, sizeof s->text - s->len, "%s", buf);
                if (k > 0 && (size_t) k < sizeof s->text - s->len)
                        s->len += (size_t) k;
        }
        (void) sd_bus_message_exit_container(m);
        unsigned n_invalidated = 0;
        if (sd_bus_message_enter_container(m, 'a', "s") > 0) {
                while (sd_bus_message_read(m, "s", &str) > 0)
                        n_invalidated++;
                (void) sd_bus_message_exit_container(m);
        }
        k = snprintf(s->text + s->len, sizeof s->text - s->len, " invalidated=%u;", n_invalidated);
        if (k > 0 && (size_t) k < sizeof s->text - s->len)
                s->len += (size_t) k;
        s->n++;
        return 0;
}

static void test_properties_changed_carry_the_values_of_the_step(void **state) {
        Signals s = {};
        sd_bus_slot *slot = NULL;
        char *opath = NULL, *st, match[512];
        (void) state;

        char *o = create("OrderComponent", "Order", "{\"orderId\":\"P1\",\"amount\":3}", &opath);
        snprintf(match, sizeof match,
                 "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='%s'",
                 opath);
        assert_true(sd_bus_add_match(bus, &slot, match, on_properties_changed, &s) >= 0);
        st = send_event("OrderComponent", o, "VALIDATE", "{}");
        assert_string_equal(st, "Validated");
        free(st);
        pump_until(&s, "State=Validated", 2000000);
        assert_non_null(strstr(s.text, "PropertiesChanged org.xfsm1.Instance State=Validated UpdatedAt>0 invalidated=0;"));
        st = send_event("OrderComponent", o, "COMPLETE", "");
        assert_string_equal(st, "Completed");
        free(st);
        pump_until(&s, "Status=completed", 2000000);
        assert_non_null(strstr(s.text, "State=Completed UpdatedAt>0 invalidated=0;"));
        assert_non_null(strstr(s.text, "PropertiesChanged org.xfsm1.Instance Status=completed invalidated=0;"));
        /* each names what its own step changed, in order */
        assert_true(strstr(s.text, "State=Validated") < strstr(s.text, "State=Completed"));
        sd_bus_slot_unref(slot);
        free(o);
        free(opath);
}

/* GetInstance: the whole instance as one JSON object. */
static void test_get_instance_returns_the_instance_as_json(void **state) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        json_object *o, *v;
        const char *json;
        char *id = create("OrderComponent", "Order", "{\"orderId\":7,\"total\":12.5}", NULL), *st;

        st = send_event("OrderComponent", id, "VALIDATE", "{}");
        free(st);
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "GetInstance", &error, &reply, "s", id) >= 0);
        assert_int_equal(sd_bus_message_read(reply, "s", &json), 1);
        o = json_tokener_parse(json);
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "id", &v));
        assert_string_equal(json_object_get_string(v), id);
        assert_true(json_object_object_get_ex(o, "machine", &v));
        assert_string_equal(json_object_get_string(v), "Order");
        assert_true(json_object_object_get_ex(o, "state", &v));
        assert_string_equal(json_object_get_string(v), "Validated");
        assert_true(json_object_object_get_ex(o, "status", &v));
        assert_string_equal(json_object_get_string(v), "active");
        assert_true(json_object_object_get_ex(o, "context", &v));
        assert_true(json_object_object_get_ex(v, "orderId", &v));
        assert_int_equal(json_object_get_int(v), 7);
        assert_true(json_object_object_get_ex(o, "createdAt", &v) && json_object_get_uint64(v) > 1600000000000ULL);
        assert_true(json_object_object_get_ex(o, "updatedAt", &v));
        assert_true(json_object_object_get_ex(o, "parentId", &v) && v == NULL);
        assert_true(json_object_object_get_ex(o, "version", &v) && strlen(json_object_get_string(v)) > 8);
        json_object_put(o);
        sd_bus_message_unref(reply);
        reply = NULL;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "GetInstance", &error, &reply, "s", "nope") < 0);
        assert_string_equal(error.name, "org.xfsm1.Error.NoSuchInstance");
        sd_bus_error_free(&error);
        free(id);
}

static void test_introspection_and_object_manager(void **state) {
        sd_bus_message *reply = NULL;
        const char *xml;
        char *path = NULL;
        unsigned instances = 0;
        (void) state;

        char *id = create("Timers", "Session", "{}", &path);
        assert_true(sd_bus_call_method(bus, "org.xfsm1.Timers", "/org/xfsm1/Timers",
                                       "org.freedesktop.DBus.Introspectable", "Introspect", NULL, &reply, "") >= 0);
        assert_true(sd_bus_message_read(reply, "s", &xml) > 0);
        assert_non_null(strstr(xml, "<interface name=\"org.xfsm1.Component\">"));
        assert_non_null(strstr(xml, "<interface name=\"org.freedesktop.DBus.ObjectManager\">"));
        assert_non_null(strstr(xml, "<node name=\"Session\"/>"));
        sd_bus_message_unref(reply);

        assert_true(sd_bus_call_method(bus, "org.xfsm1.Timers", path, "org.freedesktop.DBus.Introspectable",
                                       "Introspect", NULL, &reply, "") >= 0);
        assert_true(sd_bus_message_read(reply, "s", &xml) > 0);
        assert_non_null(strstr(xml, "<interface name=\"org.xfsm1.Instance\">"));
        assert_non_null(strstr(xml, "<signal name=\"Transition\">"));
        assert_non_null(strstr(xml, "<property name=\"PendingTimers\" type=\"a(stt)\" access=\"read\">"));
        sd_bus_message_unref(reply);

        assert_true(sd_bus_call_method(bus, "org.xfsm1.Timers", "/org/xfsm1/Timers",
                                       "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, &reply,
                                       "") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}") > 0);
        while (sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}") > 0) {
                const char *o;
                assert_true(sd_bus_message_read(reply, "o", &o) > 0);
                if (strcmp(o, path) == 0)
                        instances++;
                assert_true(sd_bus_message_skip(reply, "a{sa{sv}}") >= 0);
                assert_true(sd_bus_message_exit_container(reply) >= 0);
        }
        assert_int_equal(instances, 1);
        sd_bus_message_unref(reply);

        /* busctl, as a user would, when it is installed */
        if (access("/usr/bin/busctl", X_OK) == 0) {
                char cmd[1024];
                snprintf(cmd, sizeof cmd,
                         "/usr/bin/busctl --address=%s introspect org.xfsm1.Timers /org/xfsm1/Timers | grep -q "
                         "'org.xfsm1.Component'",
                         address);
                assert_int_equal(system(cmd), 0);
        }
        free(id);
        free(path);
}

static void test_timeout_fires_through_sd_event(void **state) {
        char *path = NULL, *st;
        uint64_t remaining = 0;
        (void) state;

        char *id = create("Timers", "Session", "{}", &path);
        st = send_event("Timers", id, "LOGIN", "");
        assert_string_equal(st, "Active");
        free(st);
        assert_int_equal(n_pending_timers("Timers", path, &remaining), 1);
        assert_true(remaining > 500000 && remaining <= 1000000);
        usleep(1200000);
        char *v = property("Timers", path, "State");
        assert_string_equal(v, "Expired");
        free(v);
        assert_int_equal(n_pending_timers("Timers", path, NULL), 0);
        free(id);
        free(path);
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        unsigned *n = userdata;
        (void) ret_error;
        if (!sd_bus_message_is_method_error(m, NULL))
                (*n)++;
        return 0;
}

static void test_ten_thousand_instances_created_listed_enumerated(void **state) {
        sd_bus_message *reply = NULL;
        unsigned ok = 0, listed = 0, enumerated = 0;
        const char *xml;
        (void) state;

        /* pipelined, 64 calls in flight (the broker allows 128 pending replies) */
        unsigned sent = 0;
        for (uint64_t end = now_usec() + 60000000; ok < 10000 && now_usec() < end;) {
                while (sent < 10000 && sent - ok < 64) {
                        assert_true(sd_bus_call_method_async(bus, NULL, "org.xfsm1.PaymentComponent",
                                                             "/org/xfsm1/PaymentComponent", "org.xfsm1.Component",
                                                             "CreateInstance", on_reply, &ok, "ss", "Payment",
                                                             "{}") >= 0);
                        sent++;
                }
                int r = sd_bus_process(bus, NULL);
                assert_true(r >= 0);
                if (r == 0)
                        (void) sd_bus_wait(bus, 100000);
        }
        assert_int_equal(ok, 10000);

        assert_true(sd_bus_call_method(bus, "org.xfsm1.PaymentComponent", "/org/xfsm1/PaymentComponent",
                                       "org.xfsm1.Component", "ListInstances", NULL, &reply, "ss", "Payment",
                                       "Pending") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssso)") > 0);
        while (sd_bus_message_skip(reply, "(ssso)") > 0)
                listed++;
        sd_bus_message_unref(reply);
        assert_true(listed >= 10000);

        assert_true(sd_bus_call_method(bus, "org.xfsm1.PaymentComponent", "/org/xfsm1/PaymentComponent/Payment",
                                       "org.freedesktop.DBus.Introspectable", "Introspect", NULL, &reply, "") >= 0);
        assert_true(sd_bus_message_read(reply, "s", &xml) > 0);
        for (const char *p = xml; (p = strstr(p, "<node name=\"")); p++)
                enumerated++;
        sd_bus_message_unref(reply);
        assert_true(enumerated >= 10000);
}

static void assert_error(const char *component, const char *method, const char *want, const char *types, ...) {
        char bn[128], path[128];
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;

        snprintf(bn, sizeof bn, "org.xfsm1.%s", component);
        snprintf(path, sizeof path, "/org/xfsm1/%s", component);
        assert_true(sd_bus_message_new_method_call(bus, &m, bn, path, "org.xfsm1.Component", method) >= 0);
        va_start(ap, types);
        assert_true(sd_bus_message_appendv(m, types, ap) >= 0);
        va_end(ap);
        assert_true(sd_bus_call(bus, m, 0, &error, &reply) < 0);
        if (strcmp(error.name, want) != 0)
                fail_msg("%s: want %s, got %s: %s", method, want, error.name, error.message);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
}

static void test_bad_input_gets_named_errors_and_changes_nothing(void **state) {
        char *path = NULL;
        char *big, longname[300];
        sd_bus_error error = SD_BUS_ERROR_NULL;
        (void) state;

        char *id = create("OrderComponent", "Order", "{\"n\":1}", &path);
        assert_error("OrderComponent", "CreateInstance", "org.xfsm1.Error.NoSuchMachine", "ss", "Nope", "{}");
        /* a machine name outside its character set is no machine to look for */
        assert_error("OrderComponent", "CreateInstance", "org.xfsm1.Error.InvalidArgument", "ss", "a-b", "{}");
        assert_error("OrderComponent", "ListInstances", "org.xfsm1.Error.InvalidArgument", "ss", "a-b", "");
        assert_error("OrderComponent", "Broadcast", "org.xfsm1.Error.InvalidArgument", "ssss", "", "", "X", "{}");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.NoSuchInstance", "sss",
                     "00000000-0000-4000-8000-000000000000", "VALIDATE", "{}");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.NoTransition", "sss", id, "NOPE", "{}");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE", "[1]");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE", "{\"a\":");
        assert_error("OrderComponent", "CreateInstance", "org.xfsm1.Error.InvalidPayload", "ss", "Order", "42");
        /* what json-c reads but JSON is not: NaN, Infinity, single quotes, trailing commas, comments */
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE", "{\"a\":NaN}");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE",
                     "{\"a\":[1,{\"b\":-Infinity}]}");
        assert_error("OrderComponent", "CreateInstance", "org.xfsm1.Error.InvalidPayload", "ss", "Order",
                     "{'single':'quotes'}");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE", "{\"a\":1,}");
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE",
                     "/*c*/{\"a\":1}");
        big = malloc(1024 * 1024 + 64);
        memset(big, ' ', 1024 * 1024 + 32);
        memcpy(big, "{\"a\":1}", 7);
        big[1024 * 1024 + 32] = 0;
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidPayload", "sss", id, "VALIDATE", big);
        free(big);
        memset(longname, 'A', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.InvalidArgument", "sss", id, longname, "{}");
        assert_error("OrderComponent", "CreateInstance", "org.xfsm1.Error.InvalidArgument", "ss", longname, "{}");
        assert_error("OrderComponent", "GetContext", "org.xfsm1.Error.InvalidArgument", "s", longname);
        /* invalid UTF-8 cannot even be sent: the client library refuses it */
        sd_bus_message *m = NULL;
        assert_true(sd_bus_message_new_method_call(bus, &m, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                                   "org.xfsm1.Component", "Send") >= 0);
        assert_true(sd_bus_message_append(m, "sss", id, "VALIDATE", "{\"a\":\"\xff\"}") < 0);
        sd_bus_message_unref(m);
        /* no such component: nobody owns the name */
        assert_true(sd_bus_call_method(bus, "org.xfsm1.Nowhere", "/org/xfsm1/Nowhere", "org.xfsm1.Component", "Send",
                                       &error, NULL, "sss", id, "X", "{}") < 0);
        assert_string_equal(error.name, "org.freedesktop.DBus.Error.ServiceUnknown");
        sd_bus_error_free(&error);
        /* an event id outside its character set */
        assert_error("OrderComponent", "SendEx", "org.xfsm1.Error.InvalidArgument", "sssa{sv}", id, "VALIDATE", "{}", 1,
                     "event_id", "s", longname);

        /* nothing changed */
        char *v = property("OrderComponent", path, "State");
        assert_string_equal(v, "Created");
        free(v);
        sd_bus_message *reply = NULL;
        const char *ctx;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "GetContext", NULL, &reply, "s", id) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &ctx) > 0);
        assert_string_equal(ctx, "{\"n\":1}");
        sd_bus_message_unref(reply);
        free(id);
        free(path);
}

static void test_send_ex_correlation_id_in_transition_signal(void **state) {
        Signals s = {};
        sd_bus_slot *slot = NULL;
        sd_bus_message *reply = NULL;
        (void) state;

        char *id = create("OrderComponent", "Order", "{}", NULL);
        assert_true(sd_bus_match_signal(bus, &slot, NULL, NULL, "org.xfsm1.Instance", "Transition", on_signal, &s) >= 0);
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "SendEx", NULL, &reply, "sssa{sv}", id, "CANCEL", "{}", 1,
                                       "correlation_id", "s", "req-42") >= 0);
        sd_bus_message_unref(reply);
        pump_until(&s, "req-42", 2000000);
        assert_non_null(strstr(s.text, "Created Cancelled CANCEL req-42"));
        sd_bus_slot_unref(slot);
        free(id);
}

/* Without a state directory an event id is remembered while the process runs:
 * the same id again returns the first result and has no second effect. */
static void test_send_ex_event_id_without_a_state_directory(void **state) {
        sd_bus_message *reply = NULL;
        const char *st;
        (void) state;

        char *id = create("OrderComponent", "Order", "{}", NULL);
        for (int k = 0; k < 2; k++) {
                assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                               "org.xfsm1.Component", "SendEx", NULL, &reply, "sssa{sv}", id, "VALIDATE",
                                               "{}", 1, "event_id", "s", "once-1") >= 0);
                assert_true(sd_bus_message_read(reply, "s", &st) > 0);
                assert_string_equal(st, "Validated");
                reply = sd_bus_message_unref(reply);
        }
        /* VALIDATE twice would have been refused (no transition from Validated) */
        assert_error("OrderComponent", "Send", "org.xfsm1.Error.NoTransition", "sss", id, "VALIDATE", "{}");
        char *h = NULL;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "GetHistory", NULL, &reply, "s", id) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &st) > 0);
        h = strdup(st);
        reply = sd_bus_message_unref(reply);
        assert_non_null(strstr(h, "VALIDATE"));
        assert_null(strstr(strstr(h, "VALIDATE") + 1, "VALIDATE")); /* once */
        free(h);
        free(id);
}

static void test_non_root_caller_is_denied_mutations(void **state) {
        char *path = NULL;
        int status;
        (void) state;

        if (geteuid() != 0) {
                print_message("SKIPPED: needs root to call as another user\n");
                skip();
        }
        char *id = create("OrderComponent", "Order", "{}", &path);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sd_bus *b = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int fail = 0;
                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(10);
                if (sd_bus_new(&b) < 0 || sd_bus_set_address(b, address) < 0 || sd_bus_set_bus_client(b, 1) < 0 ||
                    sd_bus_start(b) < 0)
                        _exit(11);
                if (sd_bus_call_method(b, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "Send", &error, NULL, "sss", id, "VALIDATE", "{}") >= 0 ||
                    strcmp(error.name, "org.freedesktop.DBus.Error.AccessDenied") != 0)
                        fail |= 1;
                sd_bus_error_free(&error);
                if (sd_bus_call_method(b, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "CreateInstance", &error, NULL, "ss", "Order", "{}") >= 0 ||
                    strcmp(error.name, "org.freedesktop.DBus.Error.AccessDenied") != 0)
                        fail |= 2;
                sd_bus_error_free(&error);
                if (sd_bus_call_method(b, "org.xfsm1.OrderComponent", path, "org.xfsm1.Instance", "Send", &error, NULL,
                                       "ss", "VALIDATE", "{}") >= 0 ||
                    strcmp(error.name, "org.freedesktop.DBus.Error.AccessDenied") != 0)
                        fail |= 4;
                sd_bus_error_free(&error);
                /* reading stays open */
                if (sd_bus_call_method(b, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "ListInstances", &error, &reply, "ss", "", "") < 0)
                        fail |= 8;
                sd_bus_message_unref(reply);
                sd_bus_flush_close_unref(b);
                _exit(fail);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        char *v = property("OrderComponent", path, "State");
        assert_string_equal(v, "Created");
        free(v);
        free(id);
        free(path);
}

static int run_ctl(const char *args, char *out, size_t size) {
        char cmd[4096];
        FILE *f;
        size_t n;
        int status;

        snprintf(cmd, sizeof cmd, "%s --bus '%s' %s 2>&1", env_or("XFSMCTL", "build/tools/xfsmctl"), address, args);
        f = popen(cmd, "r");
        assert_non_null(f);
        n = fread(out, 1, size - 1, f);
        out[n] = 0;
        status = pclose(f);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_xfsmctl_over_the_bus(void **state) {
        char out[65536], args[512], id[64];
        (void) state;

        assert_int_equal(run_ctl("create OrderComponent Order --context '{\"orderId\":\"X9\"}'", out, sizeof out), 0);
        assert_int_equal(strlen(out), 37);
        snprintf(id, sizeof id, "%.36s", out);

        /* watch follows transitions until interrupted */
        char wcmd[1024], wlog[300];
        snprintf(wlog, sizeof wlog, "%s/watch.log", dir);
        snprintf(wcmd, sizeof wcmd, "exec %s --bus '%s' watch OrderComponent", env_or("XFSMCTL", "build/tools/xfsmctl"),
                 address);
        char *wargv[] = { (char *) "/bin/sh", (char *) "-c", wcmd, NULL };
        pid_t w = spawn(wargv, wlog);
        usleep(300000);

        snprintf(args, sizeof args, "send OrderComponent %s VALIDATE --payload '{\"by\":\"ctl\"}'", id);
        assert_int_equal(run_ctl(args, out, sizeof out), 0);
        assert_string_equal(out, "Validated\n");
        snprintf(args, sizeof args, "send OrderComponent %s VALIDATE", id);
        assert_int_equal(run_ctl(args, out, sizeof out), 1);
        assert_non_null(strstr(out, "org.xfsm1.Error.NoTransition"));
        assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */

        snprintf(args, sizeof args, "show OrderComponent %s", id);
        assert_int_equal(run_ctl(args, out, sizeof out), 0);
        assert_non_null(strstr(out, "State: Validated"));
        assert_non_null(strstr(out, "\"by\":\"ctl\""));
        snprintf(args, sizeof args, "--json history OrderComponent %s", id);
        assert_int_equal(run_ctl(args, out, sizeof out), 0);
        assert_non_null(strstr(out, "\"event\":\"VALIDATE\",\"from\":\"Created\",\"to\":\"Validated\""));
        assert_int_equal(run_ctl("--json instances OrderComponent --state Validated", out, sizeof out), 0);
        assert_non_null(strstr(out, id));
        assert_int_equal(run_ctl("list", out, sizeof out), 0);
        assert_non_null(strstr(out, "OrderComponent"));
        assert_non_null(strstr(out, "PaymentComponent"));
        assert_int_equal(run_ctl("send NoSuch x Y", out, sizeof out), 1);
        assert_int_equal(run_ctl("send 'bad name' x Y", out, sizeof out), 2);
        /* xfsmctl's own options after the verb too; a stray argument is bad usage */
        char raw[1024];
        snprintf(raw, sizeof raw, "%s list --bus '%s' | grep -q OrderComponent", env_or("XFSMCTL", "build/tools/xfsmctl"),
                 address);
        assert_int_equal(system(raw), 0);
        assert_int_equal(run_ctl("list extra", out, sizeof out), 2);
        /* watching what is nowhere ends at once */
        assert_int_equal(run_ctl("watch NoSuch", out, sizeof out), 1);
        assert_non_null(strstr(out, "no component NoSuch"));

        /* a transition of another component served by the same process is not OrderComponent's */
        assert_int_equal(run_ctl("create Timers Session", out, sizeof out), 0);
        snprintf(args, sizeof args, "send Timers %.36s LOGIN", out);
        assert_int_equal(run_ctl(args, out, sizeof out), 0);
        assert_string_equal(out, "Active\n");

        usleep(300000);
        kill(w, SIGTERM);
        waitpid(w, NULL, 0);
        char cat[600];
        snprintf(cat, sizeof cat, "grep -q 'OrderComponent Order %s: Created -> Validated on VALIDATE' %s", id, wlog);
        assert_int_equal(system(cat), 0);
        snprintf(cat, sizeof cat, "grep -q 'Timers' %s", wlog);
        assert_int_not_equal(system(cat), 0);
}

static void test_bad_component_fails_start_up_with_position(void **state) {
        char out[4096];
        char cmd[2048];
        FILE *f;
        size_t n;
        int status;
        (void) state;

        snprintf(cmd, sizeof cmd, "%s --bus-address '%s' %s 2>&1", env_or("XFSMD", "build/daemon/xfsmd"), address,
                 data("xcomponent/payment.yaml"));
        f = popen(cmd, "r");
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_non_null(strstr(out, "payment.yaml:93:13: error: 'to' names unknown state 'Refunded'"));
}

static void test_component_stem_found_through_component_path(void **state) {
        char out[4096], cmd[2048];
        FILE *f;
        size_t n;
        int status;
        (void) state;

        /* a second daemon would clash on the names: ask for a stem that does not exist, then
         * one that does on a path where the name is free (Toggle) */
        snprintf(cmd, sizeof cmd, "XFSM_COMPONENT_PATH=%s %s --bus-address '%s' --component nosuch 2>&1",
                 env_or("XFSM_TEST_DATA", "tests/data"), env_or("XFSMD", "build/daemon/xfsmd"), address);
        f = popen(cmd, "r");
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_non_null(strstr(out, "No component 'nosuch'"));

        /* two files naming one component: refused */
        char twins[2048];
        snprintf(twins, sizeof twins, "mkdir -p %s/twins && cp %s %s/twins/a.yaml && cp %s %s/twins/b.yaml", dir,
                 data("toggle.yaml"), dir, data("toggle.yaml"), dir);
        assert_int_equal(system(twins), 0);
        snprintf(cmd, sizeof cmd, "XFSM_COMPONENT_PATH=%s/twins %s --bus-address '%s' --component a 2>&1", dir,
                 env_or("XFSMD", "build/daemon/xfsmd"), address);
        f = popen(cmd, "r");
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_non_null(strstr(out, "both name component Toggle"));

        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--component", (char *) "toggle", NULL };
        char log[512];
        snprintf(log, sizeof log, "%s/toggle.log", dir);
        setenv("XFSM_COMPONENT_PATH", env_or("XFSM_TEST_DATA", "tests/data"), 1);
        pid_t pid = spawn(argv, log);
        unsetenv("XFSM_COMPONENT_PATH");
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Toggle"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.Toggle"));
        char *id = create("Toggle", "Switch", "{}", NULL);
        char *st = send_event("Toggle", id, "TOGGLE", "");
        assert_string_equal(st, "On");
        free(st);
        free(id);
        kill(pid, SIGINT); /* SIGINT is a clean exit too */
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static pid_t start_durable(const char *state_dir, const char *policy) {
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--state-dir", (char *) state_dir, (char *) "--durability", (char *) policy,
                         (char *) data("durable.yaml"), NULL };
        char log[512];
        pid_t pid;

        snprintf(log, sizeof log, "%s/durable-%s.log", dir, policy);
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Durable"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.Durable"));
        return pid;
}

static void wait_name_gone(const char *name) {
        for (int k = 0; k < 500 && has_owner(name); k++)
                usleep(10000);
        assert_false(has_owner(name));
}

static long counter_n(const char *id) {
        sd_bus_message *reply = NULL;
        const char *ctx, *p;
        long n = -1;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.Durable", "/org/xfsm1/Durable", "org.xfsm1.Component",
                                       "GetContext", NULL, &reply, "s", id) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &ctx) > 0);
        p = strstr(ctx, "\"n\":");
        if (p)
                n = strtol(p + 4, NULL, 10);
        sd_bus_message_unref(reply);
        return n;
}

/* How many transitions GetHistory lists for id. */
static size_t history_n(const char *id) {
        sd_bus_message *reply = NULL;
        const char *s;
        json_object *h;
        size_t n;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.Durable", "/org/xfsm1/Durable", "org.xfsm1.Component",
                                       "GetHistory", NULL, &reply, "s", id) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &s) > 0);
        h = json_tokener_parse(s);
        assert_non_null(h);
        n = json_object_array_length(h);
        json_object_put(h);
        sd_bus_message_unref(reply);
        return n;
}

static char *send_ex(const char *id, const char *event, const char *payload, const char *event_id) {
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *st;
        char *r;
        if (sd_bus_call_method(bus, "org.xfsm1.Durable", "/org/xfsm1/Durable", "org.xfsm1.Component", "SendEx", &error,
                               &reply, "sssa{sv}", id, event, payload, 1, "event_id", "s", event_id) < 0) {
                r = strdup(error.name);
                sd_bus_error_free(&error);
                return r;
        }
        assert_true(sd_bus_message_read(reply, "s", &st) > 0);
        r = strdup(st);
        sd_bus_message_unref(reply);
        return r;
}

static void durable_round(const char *policy) {
        char state_dir[300], *st;
        int status;
        pid_t pid;

        snprintf(state_dir, sizeof state_dir, "%s/state-%s", dir, policy);
        pid = start_durable(state_dir, policy);
        char *counter = create("Durable", "Counter", "{\"n\":0}", NULL);
        char *alarm = create("Durable", "Alarm", "{}", NULL);
        /* N acknowledged events: each reply means its record is durable */
        for (int k = 0; k < 200; k++) {
                st = send_event("Durable", counter, "ADD", "{\"k\":1}");
                assert_string_equal(st, "Open");
                free(st);
        }
        st = send_ex(counter, "ADD", "{\"k\":5}", "once");
        assert_string_equal(st, "Open");
        free(st);
        st = send_ex(counter, "ADD", "{\"k\":5}", "once"); /* the same id: the first result, no effect */
        assert_string_equal(st, "Open");
        free(st);
        assert_int_equal(counter_n(counter), 205);
        assert_int_equal(history_n(counter), 201);

        /* crash: nothing acknowledged may be lost, nothing may count twice */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        wait_name_gone("org.xfsm1.Durable");
        usleep(1600000); /* the alarm falls due while the daemon is down */

        pid = start_durable(state_dir, policy);
        assert_int_equal(counter_n(counter), 205);
        assert_int_equal(history_n(counter), 201); /* history is in the records too */
        st = send_ex(counter, "ADD", "{\"k\":5}", "once"); /* remembered across the restart */
        assert_string_equal(st, "Open");
        free(st);
        assert_int_equal(counter_n(counter), 205);
        usleep(200000);
        char path[512];
        snprintf(path, sizeof path, "/org/xfsm1/Durable/Alarm");
        char *apath = NULL;
        assert_true(sd_bus_path_encode(path, alarm, &apath) >= 0);
        char *v = NULL;
        assert_true(sd_bus_get_property_string(bus, "org.xfsm1.Durable", apath, "org.xfsm1.Instance", "State", NULL,
                                               &v) >= 0);
        assert_string_equal(v, "Rang"); /* overdue: fired at start */
        free(v);

        /* a clean stop writes a snapshot; the next start comes from it */
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        wait_name_gone("org.xfsm1.Durable");
        pid = start_durable(state_dir, policy);
        assert_int_equal(counter_n(counter), 205);
        assert_int_equal(history_n(counter), 201); /* and in the snapshot */
        st = send_event("Durable", counter, "CLOSE", "");
        assert_string_equal(st, "Closed");
        free(st);
        assert_int_equal(history_n(counter), 202);
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        wait_name_gone("org.xfsm1.Durable");
        free(apath);
        free(counter);
        free(alarm);
}

static void test_manager_lists_and_starts_components(void **state) {
        char cmd[2048], log[512];
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        const char *name, *stem, *version, *bus_name;
        char *order_version = NULL;
        int running, seen = 0;
        uint32_t n;
        pid_t pid;
        (void) state;

        snprintf(cmd, sizeof cmd,
                 "mkdir -p %s/comps && cp %s %s/comps/order.yaml && cp %s %s/comps/toggle.yaml && "
                 "cp %s %s/comps/toggle2.yaml && cp %s %s/comps/broken.yaml",
                 dir, data("xcomponent/demo-order.yaml"), dir, data("toggle.yaml"), dir, data("toggle.yaml"), dir,
                 data("broken/unknown-to.yaml"), dir);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "%s/comps", dir);
        setenv("XFSM_COMPONENT_PATH", cmd, 1);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--manager", NULL };
        snprintf(log, sizeof log, "%s/manager.log", dir);
        pid = spawn(argv, log);
        unsetenv("XFSM_COMPONENT_PATH");
        for (int k = 0; k < 500 && !has_owner("org.xfsm1"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1"));

        assert_true(sd_bus_get_property_string(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                               "org.xfsm1.Component", "Version", &err, &order_version) >= 0);
        /* the worker's own count, with one instance at least */
        uint32_t order_count = 0;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "CreateInstance", &err, NULL, "ss", "Order",
                                       "{\"orderId\":\"M-1\"}") >= 0);
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "ListInstances", &err, &reply, "ss", "", "") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssso)") >= 0);
        while (sd_bus_message_skip(reply, "(ssso)") > 0)
                order_count++;
        reply = sd_bus_message_unref(reply);
        assert_true(order_count >= 1);
        assert_true(sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "ListComponents", &err,
                                       &reply, "") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(ssssbu)") >= 0);
        while (sd_bus_message_read(reply, "(ssssbu)", &name, &stem, &version, &bus_name, &running, &n) > 0) {
                if (strcmp(stem, "order") == 0) {
                        /* hosted by the other daemon of this test: running, same definition */
                        assert_string_equal(name, "OrderComponent");
                        assert_string_equal(bus_name, "org.xfsm1.OrderComponent");
                        assert_string_equal(version, order_version);
                        assert_true(running);
                        assert_int_equal(n, order_count); /* asked of the worker */
                        seen |= 1;
                } else if (strcmp(stem, "toggle") == 0 || strcmp(stem, "toggle2") == 0) {
                        /* two files name Toggle: one of them is the component, listed once */
                        assert_string_equal(name, "Toggle");
                        assert_false(running);
                        assert_int_equal(n, 0);
                        assert_false(seen & 2);
                        seen |= 2;
                } else
                        fail_msg("unexpected component %s (%s): a broken file is not listed", name, stem);
        }
        assert_int_equal(seen, 3);
        reply = sd_bus_message_unref(reply);
        free(order_version);

        /* a stem that is not installed, a stem that is not a stem, and no systemd on this bus */
        assert_true(sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "StartComponent", &err,
                                       NULL, "s", "nosuch") < 0);
        assert_string_equal(err.name, "org.xfsm1.Error.NoSuchComponent");
        sd_bus_error_free(&err);
        assert_true(sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "StopComponent", &err,
                                       NULL, "s", "../order") < 0);
        assert_string_equal(err.name, "org.xfsm1.Error.InvalidArgument");
        sd_bus_error_free(&err);
        assert_true(sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "StartComponent", &err,
                                       NULL, "s", "toggle") < 0);
        assert_string_equal(err.name, "org.freedesktop.DBus.Error.ServiceUnknown");
        sd_bus_error_free(&err);

        /* xfsmctl list: running ones from the bus, the rest from the manager */
        char out[4096];
        assert_int_equal(run_ctl("list", out, sizeof out), 0);
        assert_non_null(strstr(out, "OrderComponent"));
        assert_non_null(strstr(out, "running"));
        char *toggle = strstr(out, "Toggle ");
        assert_non_null(toggle);
        assert_non_null(strstr(toggle, "installed"));

        /* Reload says when a component file does not load (it keeps the version it had) */
        assert_true(sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "Reload", &err, NULL, "") <
                    0);
        assert_string_equal(err.name, "org.xfsm1.Error.InvalidArgument");
        assert_non_null(strstr(err.message, "broken.yaml"));
        sd_bus_error_free(&err);
        snprintf(cmd, sizeof cmd, "rm %s/comps/broken.yaml", dir);
        assert_int_equal(system(cmd), 0);
        assert_true(sd_bus_call_method(bus, "org.xfsm1", "/org/xfsm1", "org.xfsm1.Manager", "Reload", &err, NULL, "") >=
                    0);

        kill(pid, SIGTERM);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_settings_from_xfsm_conf(void **state) {
        char out[4096], cmd[2048], conf[512];
        FILE *f;
        size_t n;
        int status;
        (void) state;

        /* a bad value stops start-up, with the file and line */
        snprintf(conf, sizeof conf, "%s/bad.conf", dir);
        f = fopen(conf, "we");
        assert_non_null(f);
        fputs("# settings\n[Daemon]\nDurability=sometimes\nColour=blue\nQueueLimit=0\n", f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s --config %s --bus-address '%s' %s 2>&1", env_or("XFSMD", "build/daemon/xfsmd"),
                 conf, address, data("toggle.yaml"));
        f = popen(cmd, "r");
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_non_null(strstr(out, "bad.conf:3: Durability= must be sync, batch or none"));
        assert_non_null(strstr(out, "bad.conf:4: unknown key Colour="));
        assert_non_null(strstr(out, "bad.conf:5: QueueLimit= needs a number from 1 to 10000000"));

        /* a named file that is not there is an error too */
        snprintf(cmd, sizeof cmd, "%s --config %s/nosuch.conf --bus-address '%s' %s 2>&1",
                 env_or("XFSMD", "build/daemon/xfsmd"), dir, address, data("toggle.yaml"));
        f = popen(cmd, "r");
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_non_null(strstr(out, "nosuch.conf"));

        /* HistoryLimit=2 is what GetHistory keeps */
        snprintf(conf, sizeof conf, "%s/good.conf", dir);
        f = fopen(conf, "we");
        assert_non_null(f);
        fputs("[Daemon]\nHistoryLimit=2\nIdleTimeoutSec=0\nQueueLimit=500\nOutboxLimit=500\n", f);
        fclose(f);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--config", conf,
                         (char *) "--bus-address", address, (char *) data("toggle.yaml"), NULL };
        char log[512];
        snprintf(log, sizeof log, "%s/conf.log", dir);
        pid_t pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Toggle"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.Toggle"));
        sd_bus_message *reply = NULL;
        const char *p, *id, *history;
        assert_true(sd_bus_call_method(bus, "org.xfsm1.Toggle", "/org/xfsm1/Toggle", "org.xfsm1.Component",
                                       "CreateInstance", NULL, &reply, "ss", "Switch", "") >= 0);
        assert_true(sd_bus_message_read(reply, "os", &p, &id) >= 0);
        char ids[64];
        snprintf(ids, sizeof ids, "%s", id);
        reply = sd_bus_message_unref(reply);
        for (int k = 0; k < 5; k++)
                assert_true(sd_bus_call_method(bus, "org.xfsm1.Toggle", "/org/xfsm1/Toggle", "org.xfsm1.Component",
                                               "Send", NULL, NULL, "sss", ids, "TOGGLE", "") >= 0);
        assert_true(sd_bus_call_method(bus, "org.xfsm1.Toggle", "/org/xfsm1/Toggle", "org.xfsm1.Component",
                                       "GetHistory", NULL, &reply, "s", ids) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &history) >= 0);
        json_object *h = json_tokener_parse(history);
        assert_non_null(h);
        assert_int_equal(json_object_array_length(h), 2);
        json_object_put(h);
        sd_bus_message_unref(reply);
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
        /* every key of the good file known */
        snprintf(cmd, sizeof cmd, "grep -q 'unknown key' %s", log);
        assert_int_not_equal(system(cmd), 0);
}

static void test_sighup_does_not_end_the_daemon(void **state) {
        (void) state;
        assert_int_equal(kill(daemon_pid, SIGHUP), 0);
        usleep(200000);
        assert_int_equal(waitpid(daemon_pid, NULL, WNOHANG), 0);
        assert_true(has_owner("org.xfsm1.OrderComponent"));
        assert_true(sd_bus_call_method(bus, "org.xfsm1.OrderComponent", "/org/xfsm1/OrderComponent",
                                       "org.xfsm1.Component", "ListInstances", NULL, NULL, "ss", "", "") >= 0);
}

static void test_durable_nothing_acknowledged_is_lost_across_kill_9(void **state) {
        (void) state;
        durable_round("batch");
        durable_round("sync");
}

static void test_state_directory_is_locked(void **state) {
        char state_dir[300], out[4096], cmd[2048];
        FILE *f;
        size_t n;
        int status;
        pid_t pid;
        (void) state;

        snprintf(state_dir, sizeof state_dir, "%s/state-locked", dir);
        pid = start_durable(state_dir, "none");
        snprintf(cmd, sizeof cmd, "%s --bus-address '%s' --state-dir %s %s 2>&1", env_or("XFSMD", "build/daemon/xfsmd"),
                 address, state_dir, data("durable.yaml"));
        f = popen(cmd, "r");
        n = fread(out, 1, sizeof out - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        assert_non_null(strstr(out, "is locked: another process hosts Durable"));
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.Durable");
}

static void test_activation_socket_serves_peer_to_peer(void **state) {
        char sock[300], log[300];
        sd_bus *peer = NULL;
        sd_bus_message *reply = NULL;
        const char *path, *id;
        pid_t pid;
        (void) state;

        snprintf(sock, sizeof sock, "%s/worker.sock", dir);
        snprintf(log, sizeof log, "%s/activated.log", dir);
        /* the daemon is started by the first connection, as xfsm@.socket does; durable, as a
         * worker is: replies to the peer wait for the journal and still reach it */
        char state_dir[320];
        snprintf(state_dir, sizeof state_dir, "%s/peer-state", dir);
        char *args[] = { (char *) "--bus-address", address, (char *) "--state-dir", state_dir,
                         (char *) data("toggle.yaml"), NULL };
        pid = spawn_socket_activated(sock, args, log);
        if (pid == 0) {
                print_message("SKIPPED: systemd-socket-activate is not installed\n");
                skip();
        }

        char addr[400];
        snprintf(addr, sizeof addr, "unix:path=%s", sock);
        assert_true(sd_bus_new(&peer) >= 0);
        assert_true(sd_bus_set_address(peer, addr) >= 0);
        assert_true(sd_bus_start(peer) >= 0); /* no broker: peer to peer */
        assert_true(sd_bus_call_method(peer, NULL, "/org/xfsm1/Toggle", "org.xfsm1.Component", "CreateInstance", NULL,
                                       &reply, "ss", "Switch", "{}") >= 0);
        assert_true(sd_bus_message_read(reply, "os", &path, &id) > 0);
        char *iid = strdup(id);
        sd_bus_message_unref(reply);
        reply = NULL;
        assert_true(sd_bus_call_method(peer, NULL, "/org/xfsm1/Toggle", "org.xfsm1.Component", "Send", NULL, &reply,
                                       "sss", iid, "TOGGLE", "{}") >= 0);
        const char *st;
        assert_true(sd_bus_message_read(reply, "s", &st) > 0);
        assert_string_equal(st, "On");
        sd_bus_message_unref(reply);
        /* a libdbus client sends its first call in the same write as the end of its
         * authentication ("BEGIN\r\n" and the message): answered each time, at once */
        if (access("/usr/bin/dbus-send", X_OK) == 0)
                for (int k = 0; k < 30; k++) {
                        char cmd[700];
                        snprintf(cmd, sizeof cmd,
                                 "/usr/bin/dbus-send --peer=%s --print-reply --reply-timeout=5000 /org/xfsm1/Toggle "
                                 "org.xfsm1.Component.ListInstances string:Switch string: > /dev/null",
                                 addr);
                        assert_int_equal(system(cmd), 0);
                }
        /* and the same component on the bus */
        for (int k = 0; k < 200 && !has_owner("org.xfsm1.Toggle"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.Toggle"));
        sd_bus_flush_close_unref(peer);
        free(iid);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.Toggle");
}

static void test_worker_idles_out_only_when_nothing_waits(void **state) {
        char state_dir[300], log[300];
        int status;
        pid_t pid;
        (void) state;

        snprintf(state_dir, sizeof state_dir, "%s/state-idle", dir);
        snprintf(log, sizeof log, "%s/idle.log", dir);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--state-dir", state_dir, (char *) "--idle-timeout", (char *) "1",
                         (char *) data("durable.yaml"), NULL };
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Durable"); k++)
                usleep(10000);
        char *counter = create("Durable", "Counter", "{\"n\":7}", NULL);
        char *alarm = create("Durable", "Alarm", "{}", NULL); /* a timer armed for 1.5 s */
        usleep(1300000);
        assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* the timer holds it */
        /* the timer fires at 1.5 s, then a second without work: it leaves, cleanly */
        for (int k = 0; k < 400 && waitpid(pid, &status, WNOHANG) == 0; k++)
                usleep(10000);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        wait_name_gone("org.xfsm1.Durable");

        /* the next start has everything */
        char *argv2[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                          (char *) "--state-dir", state_dir, (char *) data("durable.yaml"), NULL };
        pid = spawn(argv2, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Durable"); k++)
                usleep(10000);
        assert_int_equal(counter_n(counter), 7);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.Durable");
        free(counter);
        free(alarm);
}

static pid_t start_relay(const char *file, const char *name, const char *state_dir) {
        char log[512];
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--state-dir", (char *) state_dir, (char *) data(file), NULL };
        pid_t pid;
        snprintf(log, sizeof log, "%s/%s.log", dir, file);
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner(name); k++)
                usleep(10000);
        assert_true(has_owner(name));
        return pid;
}

/* Stop a sender and the RelayTarget, and wait until their names are gone. */
static void stop_relays(pid_t src, const char *src_name, pid_t dst) {
        kill(src, SIGTERM);
        kill(dst, SIGTERM);
        waitpid(src, NULL, 0);
        waitpid(dst, NULL, 0);
        wait_name_gone(src_name);
        wait_name_gone("org.xfsm1.RelayTarget");
}

static long relay_count(const char *id) {
        sd_bus_message *reply = NULL;
        const char *ctx, *p;
        long n = 0;
        if (sd_bus_call_method(bus, "org.xfsm1.RelayTarget", "/org/xfsm1/RelayTarget", "org.xfsm1.Component",
                               "GetContext", NULL, &reply, "s", id) < 0)
                return -1;
        if (sd_bus_message_read(reply, "s", &ctx) > 0 && (p = strstr(ctx, "\"count\":")))
                n = strtol(p + 8, NULL, 10);
        sd_bus_message_unref(reply);
        return n;
}

static void test_routed_events_cross_processes_once_through_crashes(void **state) {
        char src_dir[300], dst_dir[300], *st;
        int status;
        pid_t src, dst;
        (void) state;

        snprintf(src_dir, sizeof src_dir, "%s/state-relay", dir);
        snprintf(dst_dir, sizeof dst_dir, "%s/state-relay", dir);
        dst = start_relay("relay-target.yaml", "org.xfsm1.RelayTarget", dst_dir);
        src = start_relay("relay-source.yaml", "org.xfsm1.RelaySource", src_dir);
        char *receiver = create("RelayTarget", "Receiver", "{\"count\":0}", NULL);
        char *sender = create("RelaySource", "Sender", "{\"name\":\"s1\"}", NULL);

        for (int k = 0; k < 30; k++) {
                st = send_event("RelaySource", sender, "GO", "");
                assert_string_equal(st, "Firing");
                free(st);
        }
        /* the receiving worker dies; the sender goes on (its outbox keeps what cannot go) */
        kill(dst, SIGKILL);
        waitpid(dst, &status, 0);
        wait_name_gone("org.xfsm1.RelayTarget");
        for (int k = 0; k < 30; k++) {
                st = send_event("RelaySource", sender, "GO", "");
                assert_string_equal(st, "Firing");
                free(st);
        }
        /* and the sender dies too, with its outbox on disk */
        kill(src, SIGKILL);
        waitpid(src, &status, 0);
        wait_name_gone("org.xfsm1.RelaySource");

        dst = start_relay("relay-target.yaml", "org.xfsm1.RelayTarget", dst_dir);
        src = start_relay("relay-source.yaml", "org.xfsm1.RelaySource", src_dir);
        long n = 0;
        for (int k = 0; k < 1000 && (n = relay_count(receiver)) < 60; k++)
                usleep(10000);
        assert_int_equal(n, 60); /* every PING, in order, and none twice */
        usleep(300000);
        assert_int_equal(relay_count(receiver), 60);

        stop_relays(src, "org.xfsm1.RelaySource", dst);
        free(receiver);
        free(sender);
}


static pid_t start_relay_without_journal(const char *file, const char *name) {
        char log[512];
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) data(file), NULL };
        pid_t pid;
        snprintf(log, sizeof log, "%s/%s-nojournal.log", dir, file);
        pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner(name); k++)
                usleep(10000);
        assert_true(has_owner(name));
        return pid;
}

static void fire(const char *component, const char *id, int times) {
        for (int k = 0; k < times; k++) {
                char *st = send_event(component, id, "GO", "");
                assert_string_equal(st, "Firing");
                free(st);
        }
}

static long wait_count(const char *receiver, long want) {
        long n = 0;
        for (int k = 0; k < 1000 && (n = relay_count(receiver)) < want; k++)
                usleep(10000);
        return n;
}

/* A source without a journal starts its routed-event sequence again at 1
 * when its process restarts; it is a new incarnation, so a durable receiver
 * whose mark for the old one is higher takes every new event. */
static void test_restarted_source_without_journal_is_never_dropped(void **state) {
        char dst_dir[300];
        int status;
        pid_t src, dst;

        snprintf(dst_dir, sizeof dst_dir, "%s/state-incarnation", dir);
        dst = start_relay("relay-target.yaml", "org.xfsm1.RelayTarget", dst_dir);
        src = start_relay_without_journal("relay-source.yaml", "org.xfsm1.RelaySource");
        char *receiver = create("RelayTarget", "Receiver", "{\"count\":0}", NULL);
        char *sender = create("RelaySource", "Sender", "{\"name\":\"s1\"}", NULL);

        fire("RelaySource", sender, 20);
        assert_int_equal(wait_count(receiver, 20), 20);
        /* the source restarts mid-stream with nothing of its past */
        kill(src, SIGKILL);
        waitpid(src, &status, 0);
        wait_name_gone("org.xfsm1.RelaySource");
        src = start_relay_without_journal("relay-source.yaml", "org.xfsm1.RelaySource");
        free(sender);
        sender = create("RelaySource", "Sender", "{\"name\":\"s2\"}", NULL);
        fire("RelaySource", sender, 15);
        assert_int_equal(wait_count(receiver, 35), 35); /* every one after the restart arrived */
        usleep(300000);
        assert_int_equal(relay_count(receiver), 35);

        /* and across a restart of the receiver, its marks (per incarnation) hold */
        kill(dst, SIGKILL);
        waitpid(dst, &status, 0);
        wait_name_gone("org.xfsm1.RelayTarget");
        fire("RelaySource", sender, 5);
        dst = start_relay("relay-target.yaml", "org.xfsm1.RelayTarget", dst_dir);
        assert_int_equal(wait_count(receiver, 40), 40);
        usleep(300000);
        assert_int_equal(relay_count(receiver), 40);

        stop_relays(src, "org.xfsm1.RelaySource", dst);
        free(receiver);
        free(sender);
}

/* The outbox queues per target: a target that is down (Absent runs nowhere)
 * holds up its own events only, never those for a target that is up. */
static void test_target_down_never_holds_up_another_target(void **state) {
        char src_dir[300], dst_dir[300];
        pid_t src, dst;

        snprintf(src_dir, sizeof src_dir, "%s/state-fanout-src", dir);
        snprintf(dst_dir, sizeof dst_dir, "%s/state-fanout-dst", dir);
        dst = start_relay("relay-target.yaml", "org.xfsm1.RelayTarget", dst_dir);
        src = start_relay("relay-fanout.yaml", "org.xfsm1.RelayFanout", src_dir);
        char *receiver = create("RelayTarget", "Receiver", "{\"count\":0}", NULL);
        char *sender = create("RelayFanout", "Sender", "{}", NULL);

        fire("RelayFanout", sender, 25);
        assert_int_equal(wait_count(receiver, 25), 25);
        usleep(300000);
        assert_int_equal(relay_count(receiver), 25);

        stop_relays(src, "org.xfsm1.RelayFanout", dst);
        free(receiver);
        free(sender);
}

static int deliver_batch(const char **jsons, const uint64_t *seqs, size_t n, uint32_t *ret_taken) {
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        assert_true(sd_bus_message_new_method_call(bus, &m, "org.xfsm1.RelayTarget", "/org/xfsm1/RelayTarget",
                                                   "org.xfsm1.Component", "DeliverBatch") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "(stus)") >= 0);
        for (size_t k = 0; k < n; k++)
                assert_true(sd_bus_message_append(m, "(stus)", "RelaySource", seqs[k], 0, jsons[k]) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        r = sd_bus_call(bus, m, 0, NULL, &reply);
        if (r >= 0)
                assert_int_equal(sd_bus_message_read(reply, "u", ret_taken), 1);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return r;
}

/* DeliverBatch: routed events taken in order until one cannot be (the rest
 * untouched, the answer says how many); the same ids again take no second
 * effect and count as taken. */
static void test_deliver_batch_takes_a_prefix_in_order_once(void **state) {
        char dst_dir[300], j[4][512];
        const char *jsons[4];
        uint64_t seqs[4] = { 1, 2, 3, 3 };
        uint32_t taken = 0;
        pid_t dst;

        snprintf(dst_dir, sizeof dst_dir, "%s/state-batch", dir);
        dst = start_relay("relay-target.yaml", "org.xfsm1.RelayTarget", dst_dir);
        char *receiver = create("RelayTarget", "Receiver", "{\"count\":0}", NULL);
        for (size_t k = 0; k < 4; k++) {
                snprintf(j[k], sizeof j[k],
                         "{\"v\":1,\"kind\":\"event\",\"sourceComponent\":\"RelaySource\","
                         "\"sourceIncarnation\":\"0123456789abcdef0123456789abcdef\",\"sourceSeq\":%llu,"
                         "\"ruleIndex\":0,\"targetComponent\":\"RelayTarget\",\"targetMachine\":\"Receiver\","
                         "\"targetState\":\"Waiting\",\"event\":\"PING\",\"payload\":{},\"hops\":1}",
                         (unsigned long long) seqs[k]);
                jsons[k] = j[k];
        }
        jsons[2] = "not json"; /* the third cannot be read: the first two are taken, not the fourth */
        assert_true(deliver_batch(jsons, seqs, 4, &taken) >= 0);
        assert_int_equal(taken, 2);
        assert_int_equal(relay_count(receiver), 2);
        /* again from the first: 1 and 2 are known (no second effect), 3 is new */
        jsons[2] = j[2];
        assert_true(deliver_batch(jsons, seqs, 3, &taken) >= 0);
        assert_int_equal(taken, 3);
        assert_int_equal(relay_count(receiver), 3);
        /* a batch whose first cannot be read is an error, and changes nothing */
        jsons[0] = "not json";
        assert_true(deliver_batch(jsons, seqs, 1, &taken) < 0);
        assert_int_equal(relay_count(receiver), 3);

        kill(dst, SIGTERM);
        waitpid(dst, NULL, 0);
        wait_name_gone("org.xfsm1.RelayTarget");
        free(receiver);
}

/* A state directory written by xfsm before records carried a format
 * (tests/data/journal-format-1) loads unchanged: state, context and the
 * SendEx event ids; then it goes on in the current format, across a
 * restart. */
static void test_journal_of_format_1_still_loads(void **state) {
        static const char id[] = "2c7b5475-71df-42da-84ba-d1d06d88f95c";
        char state_dir[300], cmd[700], log[400], *ctx, *st;
        sd_bus_message *reply = NULL;
        const char *s;
        pid_t pid;

        snprintf(state_dir, sizeof state_dir, "%s/state-format-1", dir);
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp -a %s %s/", state_dir, data("journal-format-1/durable"), state_dir);
        assert_int_equal(system(cmd), 0);
        snprintf(log, sizeof log, "%s/format-1.log", dir);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--state-dir", state_dir, (char *) data("durable.yaml"), NULL };

        for (int round = 0; round < 2; round++) {
                pid = spawn(argv, log);
                for (int k = 0; k < 500 && !has_owner("org.xfsm1.Durable"); k++)
                        usleep(10000);
                assert_true(has_owner("org.xfsm1.Durable"));
                assert_true(sd_bus_call_method(bus, "org.xfsm1.Durable", "/org/xfsm1/Durable", "org.xfsm1.Component",
                                               "GetContext", NULL, &reply, "s", id) >= 0);
                assert_int_equal(sd_bus_message_read(reply, "s", &s), 1);
                ctx = strdup(s);
                sd_bus_message_unref(reply);
                reply = NULL;
                assert_non_null(strstr(ctx, round == 0 ? "\"n\":8" : "\"n\":9"));
                free(ctx);
                if (round == 0) {
                        /* an event id of the old journal: its first result, no second effect */
                        assert_true(sd_bus_call_method(bus, "org.xfsm1.Durable", "/org/xfsm1/Durable",
                                                       "org.xfsm1.Component", "SendEx", NULL, &reply, "sssa{sv}", id,
                                                       "ADD", "{\"k\":1}", 1, "event_id", "s", "ev-3") >= 0);
                        sd_bus_message_unref(reply);
                        reply = NULL;
                        st = send_event("Durable", id, "ADD", "{\"k\":1}");
                        assert_string_equal(st, "Open");
                        free(st);
                }
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
                wait_name_gone("org.xfsm1.Durable");
        }
}

/* Reload: SIGHUP reads the file again; live instances keep their version, new
 * ones get the new one, and that holds across a restart (the state directory
 * keeps the older definition); a broken file changes nothing. */
static const char reload_v1[] = "name: Reloadable\n"
                                "stateMachines:\n"
                                "  - name: M\n"
                                "    initialState: A\n"
                                "    states: [{name: A, type: entry}, {name: B}, {name: C, type: final}]\n"
                                "    transitions:\n"
                                "      - {from: A, to: B, event: GO}\n"
                                "      - {from: B, to: C, event: GO}\n";
static const char reload_v2[] = "name: Reloadable\n"
                                "stateMachines:\n"
                                "  - name: M\n"
                                "    initialState: A\n"
                                "    states: [{name: A, type: entry}, {name: X}, {name: C, type: final}]\n"
                                "    transitions:\n"
                                "      - {from: A, to: X, event: GO}\n"
                                "      - {from: X, to: C, event: FIN}\n";

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static char *component_version(void) {
        char *v = NULL;
        assert_true(sd_bus_get_property_string(bus, "org.xfsm1.Reloadable", "/org/xfsm1/Reloadable",
                                               "org.xfsm1.Component", "Version", NULL, &v) >= 0);
        return v;
}

static pid_t start_reloadable(const char *file, const char *state_dir, const char *log) {
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--state-dir", (char *) state_dir, (char *) file, NULL };
        pid_t pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Reloadable"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.Reloadable"));
        return pid;
}

static void test_reload_keeps_live_instances_on_their_version(void **state) {
        char file[300], state_dir[300], log[300], *v1, *v2, *v, *st, *pa = NULL, *pw = NULL, *pn = NULL;
        pid_t pid;
        (void) state;

        snprintf(file, sizeof file, "%s/reloadable.yaml", dir);
        snprintf(state_dir, sizeof state_dir, "%s/reload-state", dir);
        snprintf(log, sizeof log, "%s/reload.log", dir);
        write_text(file, reload_v1);
        pid = start_reloadable(file, state_dir, log);
        v1 = component_version();
        char *a = create("Reloadable", "M", "{}", &pa), *w = create("Reloadable", "M", "{}", &pw);
        st = send_event("Reloadable", a, "GO", "{}");
        assert_string_equal(st, "B");
        free(st);

        /* the new definition, and SIGHUP */
        write_text(file, reload_v2);
        assert_int_equal(kill(pid, SIGHUP), 0);
        for (int k = 0; k < 200; k++) {
                v2 = component_version();
                if (strcmp(v2, v1) != 0)
                        break;
                free(v2);
                v2 = NULL;
                usleep(10000);
        }
        assert_non_null(v2);
        /* the live one goes on with v1, a new one takes v2 */
        st = send_event("Reloadable", a, "GO", "{}");
        assert_string_equal(st, "C");
        free(st);
        v = property("Reloadable", pa, "Version");
        assert_string_equal(v, v1);
        free(v);
        char *n = create("Reloadable", "M", "{}", &pn);
        v = property("Reloadable", pn, "Version");
        assert_string_equal(v, v2);
        free(v);
        st = send_event("Reloadable", n, "GO", "{}");
        assert_string_equal(st, "X");
        free(st);

        /* a broken file: nothing changes, the daemon goes on */
        write_text(file, "name: Reloadable\nstateMachines: 7\n");
        assert_int_equal(kill(pid, SIGHUP), 0);
        usleep(200000);
        assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
        v = component_version();
        assert_string_equal(v, v2);
        free(v);
        write_text(file, reload_v2);

        /* across a restart: w, created with v1 and still in A, keeps v1 (GO leads to B, not X) */
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.Reloadable");
        pid = start_reloadable(file, state_dir, log);
        v = property("Reloadable", pw, "Version");
        assert_string_equal(v, v1);
        free(v);
        st = send_event("Reloadable", w, "GO", "{}");
        assert_string_equal(st, "B");
        free(st);
        v = property("Reloadable", pn, "Version");
        assert_string_equal(v, v2);
        free(v);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.Reloadable");
        free(a);
        free(w);
        free(n);
        free(pa);
        free(pw);
        free(pn);
        free(v1);
        free(v2);
}

/* Eventless and targetless transitions in the daemon: taken in the step of
 * the event that enabled them, persisted with it, recovered after a
 * restart, and kept on their version by Reload. */
static const char chart_v1[] = "name: Chart\n"
                               "stateMachines:\n"
                               "  - name: M\n"
                               "    initialState: Idle\n"
                               "    semantics: scxml\n"
                               "    states: [{name: Idle}, {name: Count}, {name: Done, type: final}]\n"
                               "    transitions:\n"
                               "      - {from: Idle, to: Count, event: GO}\n"
                               "      - {from: Count, event: ADD, actions: [{assign: {n: 'n + 1'}}]}\n"
                               "      - {from: Count, to: Done, guard: 'n >= 2'}\n";
static const char chart_v2[] = "name: Chart\n"
                               "stateMachines:\n"
                               "  - name: M\n"
                               "    initialState: Idle\n"
                               "    semantics: scxml\n"
                               "    states: [{name: Idle}, {name: Count}, {name: Done, type: final}]\n"
                               "    transitions:\n"
                               "      - {from: Idle, to: Count, event: GO}\n"
                               "      - {from: Count, event: ADD, actions: [{assign: {n: 'n + 1'}}]}\n"
                               "      - {from: Count, to: Done, guard: 'n >= 1'}\n";

static pid_t start_chart(const char *file, const char *state_dir, const char *log) {
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address,
                         (char *) "--state-dir", (char *) state_dir, (char *) file, NULL };
        pid_t pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.Chart"); k++)
                usleep(10000);
        assert_true(has_owner("org.xfsm1.Chart"));
        return pid;
}

static void stop_chart(pid_t pid) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.Chart");
}

/* The history limit is in entries: names at their longest still leave it
 * 1000 entries, the oldest gone first. */
static void test_history_keeps_its_limit_in_entries_with_long_names(void **state) {
        char file[300], log[300], yaml[2048], a[201], b[201], ev[201], *st = NULL;
        sd_bus_message *reply = NULL;
        json_object *h;
        const char *text;
        (void) state;

        memset(a, 'a', 200);
        memset(b, 'b', 200);
        memset(ev, 'E', 200);
        a[200] = b[200] = ev[200] = 0;
        snprintf(yaml, sizeof yaml,
                 "name: LongNames\n"
                 "stateMachines:\n"
                 "  - name: M\n"
                 "    initialState: %s\n"
                 "    states: [{name: %s, type: entry}, {name: %s}]\n"
                 "    transitions:\n"
                 "      - {from: %s, to: %s, event: %s}\n"
                 "      - {from: %s, to: %s, event: %s}\n",
                 a, a, b, a, b, ev, b, a, ev);
        snprintf(file, sizeof file, "%s/longnames.yaml", dir);
        snprintf(log, sizeof log, "%s/longnames.log", dir);
        write_text(file, yaml);
        char *argv[] = { (char *) env_or("XFSMD", "build/daemon/xfsmd"), (char *) "--bus-address", address, file, NULL };
        pid_t pid = spawn(argv, log);
        for (int k = 0; k < 500 && !has_owner("org.xfsm1.LongNames"); k++)
                usleep(10000);
        char *id = create("LongNames", "M", "{}", NULL);
        for (int k = 0; k < 1010; k++) {
                st = send_event("LongNames", id, ev, "{}");
                assert_string_equal(st, k % 2 ? a : b);
                free(st);
        }
        assert_true(sd_bus_call_method(bus, "org.xfsm1.LongNames", "/org/xfsm1/LongNames", "org.xfsm1.Component",
                                       "GetHistory", NULL, &reply, "s", id) >= 0);
        assert_true(sd_bus_message_read(reply, "s", &text) > 0);
        h = json_tokener_parse(text);
        assert_non_null(h);
        assert_int_equal(json_object_array_length(h), 1000);
        json_object_put(h);
        sd_bus_message_unref(reply);
        free(id);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        wait_name_gone("org.xfsm1.LongNames");
}

static void test_eventless_and_targetless_persist_and_reload(void **state) {
        char file[300], state_dir[300], log[300], *st, *v, *v1 = NULL, *pa = NULL, *pb = NULL, *pc = NULL;
        pid_t pid;
        (void) state;

        snprintf(file, sizeof file, "%s/chart.yaml", dir);
        snprintf(state_dir, sizeof state_dir, "%s/chart-state", dir);
        snprintf(log, sizeof log, "%s/chart.log", dir);
        write_text(file, chart_v1);
        pid = start_chart(file, state_dir, log);
        char *a = create("Chart", "M", "{\"n\": 0}", &pa), *c = create("Chart", "M", "{\"n\": 0}", &pc);
        st = send_event("Chart", a, "GO", "{}");
        assert_string_equal(st, "Count");
        free(st);
        st = send_event("Chart", a, "ADD", "{}"); /* targetless: n = 1, the eventless one not yet enabled */
        assert_string_equal(st, "Count");
        free(st);
        v1 = property("Chart", pa, "Version");

        /* recovered from the journal as it was */
        stop_chart(pid);
        pid = start_chart(file, state_dir, log);
        v = property("Chart", pa, "State");
        assert_string_equal(v, "Count");
        free(v);
        st = send_event("Chart", a, "ADD", "{}"); /* n = 2: the eventless transition in the same step */
        assert_string_equal(st, "Done");
        free(st);
        v = property("Chart", pa, "Status");
        assert_string_equal(v, "completed");
        free(v);

        /* Reload: c keeps v1 (n >= 2), a new one takes v2 (n >= 1) */
        write_text(file, chart_v2);
        assert_int_equal(kill(pid, SIGHUP), 0);
        for (int k = 0; k < 200; k++) {
                v = NULL;
                assert_true(sd_bus_get_property_string(bus, "org.xfsm1.Chart", "/org/xfsm1/Chart",
                                                       "org.xfsm1.Component", "Version", NULL, &v) >= 0);
                bool changed = strcmp(v, v1) != 0;
                free(v);
                if (changed)
                        break;
                usleep(10000);
        }
        char *b = create("Chart", "M", "{\"n\": 0}", &pb);
        st = send_event("Chart", b, "GO", "{}");
        assert_string_equal(st, "Count");
        free(st);
        st = send_event("Chart", b, "ADD", "{}");
        assert_string_equal(st, "Done");
        free(st);
        st = send_event("Chart", c, "GO", "{}");
        free(st);
        st = send_event("Chart", c, "ADD", "{}");
        assert_string_equal(st, "Count");
        free(st);

        /* and across a restart after the reload, c still runs v1 */
        stop_chart(pid);
        pid = start_chart(file, state_dir, log);
        v = property("Chart", pc, "Version");
        assert_string_equal(v, v1);
        free(v);
        st = send_event("Chart", c, "ADD", "{}");
        assert_string_equal(st, "Done");
        free(st);
        stop_chart(pid);
        free(a);
        free(b);
        free(c);
        free(pa);
        free(pb);
        free(pc);
        free(v1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_demo_cascade_across_two_components_with_signals),
                cmocka_unit_test(test_properties_changed_carry_the_values_of_the_step),
                cmocka_unit_test(test_introspection_and_object_manager),
                cmocka_unit_test(test_get_instance_returns_the_instance_as_json),
                cmocka_unit_test(test_timeout_fires_through_sd_event),
                cmocka_unit_test(test_bad_input_gets_named_errors_and_changes_nothing),
                cmocka_unit_test(test_send_ex_correlation_id_in_transition_signal),
                cmocka_unit_test(test_send_ex_event_id_without_a_state_directory),
                cmocka_unit_test(test_non_root_caller_is_denied_mutations),
                cmocka_unit_test(test_xfsmctl_over_the_bus),
                cmocka_unit_test(test_bad_component_fails_start_up_with_position),
                cmocka_unit_test(test_component_stem_found_through_component_path),
                cmocka_unit_test(test_manager_lists_and_starts_components),
                cmocka_unit_test(test_settings_from_xfsm_conf),
                cmocka_unit_test(test_sighup_does_not_end_the_daemon),
                cmocka_unit_test(test_reload_keeps_live_instances_on_their_version),
                cmocka_unit_test(test_eventless_and_targetless_persist_and_reload),
                cmocka_unit_test(test_history_keeps_its_limit_in_entries_with_long_names),
                cmocka_unit_test(test_durable_nothing_acknowledged_is_lost_across_kill_9),
                cmocka_unit_test(test_restarted_source_without_journal_is_never_dropped),
                cmocka_unit_test(test_journal_of_format_1_still_loads),
                cmocka_unit_test(test_target_down_never_holds_up_another_target),
                cmocka_unit_test(test_deliver_batch_takes_a_prefix_in_order_once),
                cmocka_unit_test(test_state_directory_is_locked),
                cmocka_unit_test(test_activation_socket_serves_peer_to_peer),
                cmocka_unit_test(test_worker_idles_out_only_when_nothing_waits),
                cmocka_unit_test(test_routed_events_cross_processes_once_through_crashes),
                cmocka_unit_test(test_ten_thousand_instances_created_listed_enumerated),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
