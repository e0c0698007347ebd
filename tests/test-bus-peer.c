/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The daemon's bus layer over a socketpair (sd_bus_set_server + sd_bus_set_fd),
 * as dbus-broker's tests do: no broker, the same vtables, one process. The
 * worker socket of the systemd work answers this way. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "manager.h"
#include "outbox.h"

typedef struct Peer {
        Manager *m;
        sd_bus *server, *client;
} Peer;

static const char *data(const char *name) {
        static char buf[4][1024];
        static unsigned k;
        const char *d = getenv("XFSM_TEST_DATA");
        char *b = buf[k++ % 4];
        snprintf(b, 1024, "%s/%s", d ? d : "tests/data", name);
        return b;
}

static int setup(void **state) {
        Peer *p = calloc(1, sizeof *p);
        sd_id128_t id;
        int fds[2];

        assert_non_null(p);
        assert_int_equal(manager_new(&p->m), 0);
        assert_int_equal(manager_load_file(p->m, data("xcomponent/demo-order.yaml")), 0);
        assert_int_equal(manager_load_file(p->m, data("xcomponent/demo-payment.yaml")), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
        assert_int_equal(sd_id128_randomize(&id), 0);

        assert_true(sd_bus_new(&p->server) >= 0);
        assert_true(sd_bus_set_fd(p->server, fds[0], fds[0]) >= 0);
        assert_true(sd_bus_set_server(p->server, 1, id) >= 0);
        assert_true(sd_bus_start(p->server) >= 0);
        assert_true(sd_bus_attach_event(p->server, p->m->event, 0) >= 0);
        assert_true(manager_attach_bus(p->m, p->server, true) >= 0);

        assert_true(sd_bus_new(&p->client) >= 0);
        assert_true(sd_bus_set_fd(p->client, fds[1], fds[1]) >= 0);
        assert_true(sd_bus_start(p->client) >= 0);
        *state = p;
        return 0;
}

static int teardown(void **state) {
        Peer *p = *state;
        sd_bus_flush_close_unref(p->client);
        sd_bus_detach_event(p->server);
        sd_bus_unref(p->server);
        manager_free(p->m);
        free(p);
        return 0;
}

typedef struct Reply {
        bool done;
        sd_bus_message *m;
} Reply;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Reply *r = userdata;
        (void) ret_error;
        r->m = sd_bus_message_ref(m);
        r->done = true;
        return 0;
}

/* Run both ends in this thread until the reply is there. */
static void pump(Peer *p, bool *done) {
        for (int k = 0; k < 10000 && !*done; k++) {
                int a = sd_event_run(p->m->event, 0), b = sd_bus_process(p->client, NULL);
                assert_true(a >= 0 && b >= 0);
                if (a == 0 && b == 0)
                        (void) sd_bus_wait(p->client, 1000);
        }
        assert_true(*done);
}

static sd_bus_message *call(Peer *p, const char *path, const char *iface, const char *member, const char *types, ...) {
        sd_bus_message *m = NULL;
        Reply r = {};
        va_list ap;

        assert_true(sd_bus_message_new_method_call(p->client, &m, NULL, path, iface, member) >= 0);
        va_start(ap, types);
        assert_true(sd_bus_message_appendv(m, types, ap) >= 0);
        va_end(ap);
        assert_true(sd_bus_call_async(p->client, NULL, m, on_reply, &r, 0) >= 0);
        sd_bus_message_unref(m);
        pump(p, &r.done);
        return r.m;
}

static char signals[4096];

static int on_transition(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *from, *to, *event, *corr;
        bool *got = userdata;
        (void) ret_error;
        if (sd_bus_message_read(m, "ssss", &from, &to, &event, &corr) > 0) {
                size_t n = strlen(signals);
                snprintf(signals + n, sizeof signals - n, "%s:%s->%s;", event, from, to);
                *got = true;
        }
        return 0;
}

static void test_peer_create_send_and_signal(void **state) {
        Peer *p = *state;
        sd_bus_message *r;
        const char *path, *id, *st;
        char *opath, *oid;
        bool got = false;

        assert_true(sd_bus_match_signal(p->client, NULL, NULL, NULL, "org.xfsm1.Instance", "Transition", on_transition,
                                        &got) >= 0);
        r = call(p, "/org/xfsm1/OrderComponent", "org.xfsm1.Component", "CreateInstance", "ss", "Order",
                 "{\"orderId\":\"P1\"}");
        assert_false(sd_bus_message_is_method_error(r, NULL));
        assert_true(sd_bus_message_read(r, "os", &path, &id) > 0);
        opath = strdup(path);
        oid = strdup(id);
        sd_bus_message_unref(r);
        r = call(p, "/org/xfsm1/PaymentComponent", "org.xfsm1.Component", "CreateInstance", "ss", "Payment", "{}");
        sd_bus_message_unref(r);

        /* through the instance object: the fallback vtable */
        r = call(p, opath, "org.xfsm1.Instance", "Send", "ss", "VALIDATE", "{}");
        assert_false(sd_bus_message_is_method_error(r, NULL));
        assert_true(sd_bus_message_read(r, "s", &st) > 0);
        assert_string_equal(st, "Validated");
        sd_bus_message_unref(r);
        pump(p, &got);
        for (int k = 0; k < 50; k++) {
                (void) sd_event_run(p->m->event, 0);
                (void) sd_bus_process(p->client, NULL);
        }
        assert_non_null(strstr(signals, "VALIDATE:Created->Validated;"));
        assert_non_null(strstr(signals, "PROCESS:Pending->Processing;")); /* the cascade, in process */

        r = call(p, opath, "org.freedesktop.DBus.Properties", "Get", "ss", "org.xfsm1.Instance", "State");
        assert_true(sd_bus_message_read(r, "v", "s", &st) > 0);
        assert_string_equal(st, "Validated");
        sd_bus_message_unref(r);

        r = call(p, "/org/xfsm1/OrderComponent", "org.xfsm1.Component", "Send", "sss", oid, "NOPE", "{}");
        assert_true(sd_bus_message_is_method_error(r, "org.xfsm1.Error.NoTransition"));
        sd_bus_message_unref(r);
        r = call(p, "/org/xfsm1/OrderComponent/Order/nothing", "org.xfsm1.Instance", "Send", "ss", "X", "{}");
        assert_true(sd_bus_message_is_method_error(r, NULL)); /* no such object */
        sd_bus_message_unref(r);
        free(opath);
        free(oid);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_peer_create_send_and_signal, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
